"""The network families researchers bring (issue 11 section 4), each at two sizes.

Developer tooling, run with Debian's /usr/bin/python3 (torch 1.13,
torchvision 0.14).  Used by models/export_zoo.py (the "zoo" size, for the
table in docs/zoo.md) and by tests/lit/Inputs/zoo/make_zoo.py (the "ci" size:
small inputs and widths, so that the committed files stay small and the lit
test fast).  Nothing is downloaded: weights are random, then made
non-degenerate by modelutil.calibrate().

FAMILIES maps a name to build(size) -> (model, input shape at batch 1).  The
input is "input" f32 and the output "output" f32[1, classes] (the U-Net's is
a per-pixel map).  Where torchvision has the network (MobileNetV3-small,
ConvNeXt, MnasNet, ViT, Swin) its own classes are used, at a reduced configuration
for "ci"; the others are written here the way their papers and the usual
reference code write them.
"""
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torchvision.models import convnext, mnasnet, mobilenetv3, swin_transformer, vision_transformer

SIZES = ("ci", "zoo")


def _conv_bn(cin, cout, k=3, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


# -- CIFAR ResNet-20, option-A shortcuts (He et al. 2016, section 4.2) --------

class _BlockA(nn.Module):
    """Basic block whose downsampling shortcut is parameter-free: every other
    pixel (a strided slice) and the new channels zero-padded."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.pad is not None:
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0.0)
        return F.relu(y + x)


class CifarResNet(nn.Module):
    def __init__(self, blocks, width, classes=10):
        super().__init__()
        self.stem = _conv_bn(3, width)
        layers, cin = [], width
        for stage in range(3):
            cout = width << stage
            for b in range(blocks):
                layers.append(_BlockA(cin, cout, 2 if stage and b == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).view(x.size(0), -1))


def resnet20(size):
    if size == "ci":
        return CifarResNet(1, 4), (1, 3, 16, 16)
    return CifarResNet(3, 16), (1, 3, 32, 32)


# -- torchvision networks ----------------------------------------------------

def mobilenet_v3_small(size):
    if size == "ci":
        setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
        model = mobilenetv3.MobileNetV3(setting[:6], last // 4, num_classes=10)
        return model, (1, 3, 32, 32)
    return torchvision.models.mobilenet_v3_small(weights=None), (1, 3, 224, 224)


def _layer_scales(model):
    """ConvNeXt's layer scale starts at 1e-6, which leaves every block out of
    the output: a trained network's are of order 0.1 to 1."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, convnext.CNBlock):
                m.layer_scale.uniform_(0.3, 1.0)
    return model


def convnext_net(size):
    if size == "ci":
        cfg = [convnext.CNBlockConfig(8, 16, 1), convnext.CNBlockConfig(16, None, 1)]
        return _layer_scales(convnext.ConvNeXt(cfg, num_classes=10)), (1, 3, 32, 32)
    return _layer_scales(torchvision.models.convnext_tiny(weights=None)), (1, 3, 64, 64)


def mnasnet_net(size):
    if size == "zoo":
        return torchvision.models.mnasnet0_5(weights=None), (1, 3, 224, 224)
    # torchvision's structure at alpha 0.1, its last two stacks left out and
    # its fixed 1280-channel head narrowed to 32
    model = mnasnet.MNASNet(0.1, num_classes=10)
    stacks = list(model.layers)[:12]
    model.layers = nn.Sequential(*stacks, _conv_bn(stacks[-1][-1].layers[-1].num_features, 32, 1))
    model.classifier[1] = nn.Linear(32, 10)
    return model, (1, 3, 32, 32)


def _head_init(model):
    """torchvision zero-initializes the ViT head: random instead."""
    nn.init.normal_(model.heads.head.weight)
    return model


def vit(size):
    if size == "ci":
        model = vision_transformer.VisionTransformer(
            image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16,
            mlp_dim=32, num_classes=10)
        return _head_init(model), (1, 3, 16, 16)
    model = vision_transformer.VisionTransformer(
        image_size=32, patch_size=4, num_layers=6, num_heads=4, hidden_dim=128,
        mlp_dim=256, num_classes=10)
    return _head_init(model), (1, 3, 32, 32)


def swin(size):
    """torchvision's Swin Transformer: windows padded to whole ones (the pads
    computed from shapes with Mod), shifted by torch.roll, their attention
    masks written into a new_zeros tensor (ScatterND), the relative position
    bias, patch merging.  "ci": 10 x 10 patches padded to windows of 4 x 4,
    the second block's windows shifted, then merged to 5 x 5, padded to 8 x 8."""
    if size == "ci":
        model = swin_transformer.SwinTransformer(
            patch_size=[2, 2], embed_dim=16, depths=[2, 1], num_heads=[2, 4], window_size=[4, 4], num_classes=10)
        return model, (1, 3, 20, 20)
    return torchvision.models.swin_t(weights=None, num_classes=10), (1, 3, 64, 64)


# -- BERT-style encoder on float embeddings ----------------------------------

class BertStyle(nn.Module):
    """Embeddings in (the token lookup done outside), position embeddings,
    LayerNorm, post-norm GELU encoder layers, a tanh pooler on the first
    token and a classifier: BERT's shape."""

    def __init__(self, seq, dim, heads, layers, ff, classes=2):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, seq, dim) * 0.5)
        self.norm = nn.LayerNorm(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout=0.0, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pool = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, classes)

    def forward(self, x):
        h = self.encoder(self.norm(x + self.pos))
        return self.fc(torch.tanh(self.pool(h[:, 0])))


def bert(size):
    if size == "ci":
        return BertStyle(8, 16, 2, 2, 32), (1, 8, 16)
    return BertStyle(64, 128, 4, 4, 512), (1, 64, 128)


# -- recurrent sequence classifiers ------------------------------------------

class RnnClassifier(nn.Module):
    """Two bidirectional layers from learned initial states, classified from
    the last step's output."""

    def __init__(self, cell, features, hidden, classes=5):
        super().__init__()
        self.rnn = cell(features, hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.h0 = nn.Parameter(torch.randn(4, 1, hidden) * 0.5)
        self.c0 = nn.Parameter(torch.randn(4, 1, hidden) * 0.5) if cell is nn.LSTM else None
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        h0 = self.h0.expand(-1, x.size(0), -1).contiguous()
        if self.c0 is None:
            out, _ = self.rnn(x, h0)
        else:
            out, _ = self.rnn(x, (h0, self.c0.expand(-1, x.size(0), -1).contiguous()))
        return self.fc(out[:, -1])


def lstm(size):
    if size == "ci":
        return RnnClassifier(nn.LSTM, 8, 8), (1, 6, 8)
    return RnnClassifier(nn.LSTM, 40, 64), (1, 32, 40)


def gru(size):
    if size == "ci":
        return RnnClassifier(nn.GRU, 8, 8), (1, 6, 8)
    return RnnClassifier(nn.GRU, 40, 64), (1, 32, 40)


# -- U-Net ---------------------------------------------------------------------

class UNet(nn.Module):
    """Two levels down, a ConvTranspose up and a bilinear Upsample up, each
    concatenated with its skip connection."""

    def __init__(self, width, classes=2):
        super().__init__()
        c = width
        self.enc1 = nn.Sequential(_conv_bn(3, c), _conv_bn(c, c))
        self.enc2 = nn.Sequential(_conv_bn(c, 2 * c), _conv_bn(2 * c, 2 * c))
        self.mid = nn.Sequential(_conv_bn(2 * c, 4 * c), _conv_bn(4 * c, 4 * c))
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = nn.Sequential(_conv_bn(4 * c, 2 * c), _conv_bn(2 * c, 2 * c))
        self.up1 = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 nn.Conv2d(2 * c, c, 1))
        self.dec1 = nn.Sequential(_conv_bn(2 * c, c), _conv_bn(c, c))
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        s1 = self.enc1(x)
        s2 = self.enc2(F.max_pool2d(s1, 2))
        y = self.mid(F.max_pool2d(s2, 2))
        y = self.dec2(torch.cat([self.up2(y), s2], 1))
        y = self.dec1(torch.cat([self.up1(y), s1], 1))
        return self.head(y)


def unet(size):
    if size == "ci":
        return UNet(4), (1, 3, 16, 16)
    return UNet(16), (1, 3, 64, 64)


# -- keyword spotting: DS-CNN (Zhang et al. 2017, "Hello Edge") ---------------

class DsCnn(nn.Module):
    def __init__(self, width, blocks, classes=12):
        super().__init__()
        layers = [nn.Conv2d(1, width, (10, 4), (2, 2), (5, 1), bias=False),
                  nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        for _ in range(blocks):
            layers += [_conv_bn(width, width, 3, groups=width), _conv_bn(width, width, 1)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def kws(size):
    if size == "ci":
        return DsCnn(8, 2), (1, 1, 49, 10)
    return DsCnn(64, 4), (1, 1, 49, 10)


FAMILIES = {
    "resnet20": resnet20,
    "mobilenet_v3_small": mobilenet_v3_small,
    "convnext": convnext_net,
    "mnasnet": mnasnet_net,
    "vit": vit,
    "swin": swin,
    "bert": bert,
    "lstm": lstm,
    "gru": gru,
    "unet": unet,
    "kws": kws,
}

# the export ways of issue 11: torch.onnx.export's defaults (opset 14), with a
# dynamic batch axis, and without constant folding
WAYS = {
    "default": {},
    "dynamic": {"dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}},
    "nofold": {"do_constant_folding": False},
}

WEIGHT_SEED = 0
CALIB_SEED = 99
CALIB_BATCH = 8
INPUT_SEED = 1234


def inputs(shape, batch, seed):
    """Standard normal inputs of `batch` examples, independent of torch's
    generator state."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch,) + tuple(shape[1:])).astype(np.float32)


def build(name, size):
    """The family's network with its weights fixed: seeded initialization,
    then modelutil.calibrate() on a random batch.  Returns (model, shape)."""
    from modelutil import calibrate
    torch.manual_seed(WEIGHT_SEED)
    model, shape = FAMILIES[name](size)
    calibrate(model, torch.from_numpy(inputs(shape, CALIB_BATCH, CALIB_SEED)))
    return model, shape


def export(model, example, path, way):
    """torch.onnx.export with its defaults (opset 14) and the way's options;
    input "input", output "output"."""
    torch.onnx.export(model, torch.from_numpy(example), path, input_names=["input"],
                      output_names=["output"], **WAYS[way])
