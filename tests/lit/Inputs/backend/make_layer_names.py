"""Models whose layer names are as long and alike as torch makes them.

mobilenet_names.onnx: a MobileNetV2-shaped toy; three convolutions share the
28-character prefix '/features/features.1/conv/co' at which an old summary
cut every name, and the classifier's name is longer than a table's name
column.  unnamed.onnx: the same graph with every node name removed, so layers
fall back to their result names.  x.npy: one input.
Regenerate with Debian's python3 (torch exports at its default opset):
    /usr/bin/python3 make_layer_names.py
"""
import numpy as np
import onnx
import torch
from torch import nn


def conv_bn(cin, cout, k, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6())


class Block(nn.Module):
    def __init__(self, cin, hidden, cout):
        super().__init__()
        self.conv = nn.Sequential(conv_bn(cin, hidden, 1), conv_bn(hidden, hidden, 3, groups=hidden),
                                  nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.conv(x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(conv_bn(3, 8, 3), Block(8, 16, 8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier_with_a_long_descriptive_name = nn.Sequential(nn.Dropout(0.2), nn.Linear(8, 10))

    def forward(self, x):
        return self.classifier_with_a_long_descriptive_name(torch.flatten(self.pool(self.features(x)), 1))


torch.manual_seed(0)
net = Net().eval()
x = torch.rand(1, 3, 16, 16)
torch.onnx.export(net, x, "mobilenet_names.onnx", input_names=["input"], output_names=["logits"])
model = onnx.load("mobilenet_names.onnx")
for node in model.graph.node:
    node.name = ""
onnx.save(model, "unnamed.onnx")
np.save("x.npy", x.numpy())
