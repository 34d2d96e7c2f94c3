"""Helpers for ssvepjax's own tests: peer references that need optional packages (torch, torchvision, timm)."""
