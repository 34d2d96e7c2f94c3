"""Networks to probe, instrumented with ``sow``: CIFAR-style ResNets, ImageNet-style bottleneck ResNets
(ResNet-50) and vision transformers; :func:`random_variables` fills any of them without compiling ``init``."""

from ssvepjax.models.cifar_resnet import ACTIVATIONS as ACTIVATIONS
from ssvepjax.models.cifar_resnet import BasicBlock as BasicBlock
from ssvepjax.models.cifar_resnet import CifarResNet as CifarResNet
from ssvepjax.models.cifar_resnet import ModelConfig as ModelConfig
from ssvepjax.models.cifar_resnet import conv_layer_names as conv_layer_names
from ssvepjax.models.cifar_resnet import resnet_blocks as resnet_blocks
from ssvepjax.models.random_init import param_count as param_count
from ssvepjax.models.random_init import random_variables as random_variables
from ssvepjax.models.resnet50 import RESNET50_STAGES as RESNET50_STAGES
from ssvepjax.models.resnet50 import Bottleneck as Bottleneck
from ssvepjax.models.resnet50 import ImageNetResNet as ImageNetResNet
from ssvepjax.models.resnet50 import resnet50 as resnet50
from ssvepjax.models.resnet50 import resnet_layer_names as resnet_layer_names
from ssvepjax.models.vit import VisionTransformer as VisionTransformer
from ssvepjax.models.vit import vit_base as vit_base
from ssvepjax.models.vit import vit_layer_names as vit_layer_names
from ssvepjax.models.vit import vit_small as vit_small
from ssvepjax.models.vit import vit_tiny as vit_tiny
