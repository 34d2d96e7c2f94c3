"""Networks to probe: CIFAR-style ResNets (and, as they land, larger models), instrumented with ``sow``."""

from ssvepjax.models.cifar_resnet import ACTIVATIONS as ACTIVATIONS
from ssvepjax.models.cifar_resnet import BasicBlock as BasicBlock
from ssvepjax.models.cifar_resnet import CifarResNet as CifarResNet
from ssvepjax.models.cifar_resnet import ModelConfig as ModelConfig
from ssvepjax.models.cifar_resnet import conv_layer_names as conv_layer_names
from ssvepjax.models.cifar_resnet import resnet_blocks as resnet_blocks
