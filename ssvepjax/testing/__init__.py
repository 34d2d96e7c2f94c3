"""Helpers for ssvepjax's own tests and benchmarks: peer references that need optional packages (torch,
torchvision, timm), imported only inside their functions.

- ``torch_reference``: torchvision and timm models on a CPU torch, hooks on their blocks;
- ``torch_resnet``: the PyTorch twin of ``models.CifarResNet``, its port from Flax, and the hook-based probe
  published code runs (the benchmark's contender);
- ``box_folder``: a generated stand-in for ImageNet validation images with their boxes.
"""
