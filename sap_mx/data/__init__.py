"""Datasets: real loaders (CIFAR-10, MNIST, Fashion-MNIST) and generators of small files in the
official formats."""
from ._common import DataNotFound
from .cifar10 import (augment, center_crop, find_cifar10, load_cifar10, synthetic_images,
                      write_cifar10)
from .fashion_mnist import (find_fashion_mnist, is_fashion_mnist, load_fashion_mnist,
                            official_fashion_mnist)
from .mnist import (find_mnist, load_mnist, official_mnist, read_idx, synthetic_digits, write_idx,
                    write_mnist)

__all__ = ["DataNotFound", "augment", "center_crop", "find_cifar10", "load_cifar10",
           "synthetic_images", "write_cifar10", "find_mnist", "load_mnist", "read_idx",
           "official_mnist", "synthetic_digits", "write_idx", "write_mnist", "find_fashion_mnist",
           "load_fashion_mnist", "official_fashion_mnist", "is_fashion_mnist"]
