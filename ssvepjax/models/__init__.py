"""Networks to probe, instrumented with ``sow``: CIFAR-style ResNets, ImageNet-style ResNets and ResNeXts
(torchvision's layout), VGGs and vision transformers (timm's layout); :func:`random_variables` fills any of
them without compiling ``init``, and :func:`load_torch_model` loads PyTorch weights into them."""

from ssvepjax.models.cifar_resnet import ACTIVATIONS as ACTIVATIONS
from ssvepjax.models.cifar_resnet import BasicBlock as BasicBlock
from ssvepjax.models.cifar_resnet import CifarResNet as CifarResNet
from ssvepjax.models.cifar_resnet import ModelConfig as ModelConfig
from ssvepjax.models.cifar_resnet import conv_geometry as conv_geometry
from ssvepjax.models.cifar_resnet import conv_layer_names as conv_layer_names
from ssvepjax.models.cifar_resnet import conv_strides as conv_strides
from ssvepjax.models.cifar_resnet import resnet_blocks as resnet_blocks
from ssvepjax.models.cifar_resnet import stage_end_layers as stage_end_layers
from ssvepjax.models.configs import ARCHITECTURES as ARCHITECTURES
from ssvepjax.models.configs import model_config as model_config
from ssvepjax.models.preprocess import IMAGENET_MEAN as IMAGENET_MEAN
from ssvepjax.models.preprocess import IMAGENET_STD as IMAGENET_STD
from ssvepjax.models.preprocess import imagenet_normalize as imagenet_normalize
from ssvepjax.models.preprocess import normalize as normalize
from ssvepjax.models.random_init import param_count as param_count
from ssvepjax.models.random_init import random_variables as random_variables
from ssvepjax.models.resnet import RESNET50_STAGES as RESNET50_STAGES
from ssvepjax.models.resnet import RESNET_STAGES as RESNET_STAGES
from ssvepjax.models.resnet import Bottleneck as Bottleneck
from ssvepjax.models.resnet import ImageNetResNet as ImageNetResNet
from ssvepjax.models.resnet import ResNetBasicBlock as ResNetBasicBlock
from ssvepjax.models.resnet import resnet18 as resnet18
from ssvepjax.models.resnet import resnet34 as resnet34
from ssvepjax.models.resnet import resnet50 as resnet50
from ssvepjax.models.resnet import resnet101 as resnet101
from ssvepjax.models.resnet import resnet152 as resnet152
from ssvepjax.models.resnet import resnet_layer_names as resnet_layer_names
from ssvepjax.models.resnet import resnext50_32x4d as resnext50_32x4d
from ssvepjax.models.torch_weights import TORCH_ARCHITECTURES as TORCH_ARCHITECTURES
from ssvepjax.models.torch_weights import convert_state_dict as convert_state_dict
from ssvepjax.models.torch_weights import load_state_dict as load_state_dict
from ssvepjax.models.torch_weights import load_torch_model as load_torch_model
from ssvepjax.models.torch_weights import load_torch_weights as load_torch_weights
from ssvepjax.models.vggnet import VGG as VGG
from ssvepjax.models.vggnet import VGG_CONFIGS as VGG_CONFIGS
from ssvepjax.models.vggnet import VGGConfig as VGGConfig
from ssvepjax.models.vggnet import adaptive_avg_pool as adaptive_avg_pool
from ssvepjax.models.vggnet import vgg as vgg
from ssvepjax.models.vggnet import vgg_layer_names as vgg_layer_names
from ssvepjax.models.vit import VisionTransformer as VisionTransformer
from ssvepjax.models.vit import ViTConfig as ViTConfig
from ssvepjax.models.vit import vit_base as vit_base
from ssvepjax.models.vit import vit_layer_names as vit_layer_names
from ssvepjax.models.vit import vit_small as vit_small
from ssvepjax.models.vit import vit_tiny as vit_tiny

__all__ = ["ACTIVATIONS", "ARCHITECTURES", "IMAGENET_MEAN", "IMAGENET_STD", "RESNET50_STAGES", "RESNET_STAGES",
    "TORCH_ARCHITECTURES", "VGG", "VGG_CONFIGS", "adaptive_avg_pool", "BasicBlock", "Bottleneck", "CifarResNet",
    "conv_geometry", "conv_layer_names", "conv_strides", "convert_state_dict", "imagenet_normalize",
    "ImageNetResNet", "load_state_dict", "load_torch_model", "load_torch_weights", "model_config", "ModelConfig",
    "normalize", "param_count", "random_variables", "resnet101", "resnet152", "resnet18", "resnet34", "resnet50",
    "resnet_blocks", "resnet_layer_names", "ResNetBasicBlock", "resnext50_32x4d", "stage_end_layers", "vgg",
    "vgg_layer_names", "VGGConfig", "VisionTransformer", "vit_base", "vit_layer_names", "vit_small", "vit_tiny",
    "ViTConfig"]
