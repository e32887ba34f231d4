"""What the reproduction runs, in which order, and where: teachers, student
grids, complexity runs, the complexity launcher and the whole reproduction."""
