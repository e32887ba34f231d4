"""The PyTorch reference of `bench_train.py`: the LeNet-5 recipe in plain
PyTorch.

Same network (NCHW, PyTorch's default initialisation), loss and optimizer
(SGD, Nesterov momentum 0.9, weight decay 5e-4) as the JAX step it is timed
against; torch is optional, so `torch_lenet5_stepper` returns None without it.
"""


def torch_lenet5_stepper(batch_size, threads=0):
  """run(n): n steps of the LeNet-5 recipe in PyTorch (None without torch)."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  if threads:
    torch.set_num_threads(threads)
  nn = torch.nn
  net = nn.Sequential(
    nn.Conv2d(1, 6, 5),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(6, 16, 5),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(256, 120),
    nn.ReLU(),
    nn.Linear(120, 84),
    nn.ReLU(),
    nn.Linear(84, 10),
  )
  opt = torch.optim.SGD(
    net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4
  )
  images = torch.randn(batch_size, 1, 28, 28)
  labels = torch.randint(0, 10, (batch_size,))

  def run(n):
    for _ in range(n):
      opt.zero_grad(set_to_none=True)
      torch.nn.functional.cross_entropy(net(images), labels).backward()
      opt.step()

  return run
