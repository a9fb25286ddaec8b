"""Datasets: real loaders and generators of small files in the official formats."""
from .cifar10 import (DataNotFound, augment, center_crop, find_cifar10, load_cifar10,
                      synthetic_images, write_cifar10)

__all__ = ["DataNotFound", "augment", "center_crop", "find_cifar10", "load_cifar10",
           "synthetic_images", "write_cifar10"]
