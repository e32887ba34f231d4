"""The reproduction's grid of students × teaching methods × seeds: its typed
records (`records`) and where its runs, results and figures live (`layout`).
Shared by the experiment and the reports, below both."""
