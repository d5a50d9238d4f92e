"""zoo's operators: our C++/CUDA kernels (torch.ops.zoo.*) behind PyTorch-style wrappers.

Each op family lives in its own module with its PyTorch reference; `backend(...)`
and $ZOO_KERNELS choose between the two (see zoo.ops.backend).
"""

from zoo.ops import _extension
from zoo.ops.backend import (
    BACKENDS,
    ExtensionUnavailableError,
    KernelFallbackWarning,
    backend,
    current,
    use_extension,
)
from zoo.ops import attention as _attention
from zoo.ops import bias_act as _bias_act
from zoo.ops import conv as _conv
from zoo.ops import linear as _linear
from zoo.ops import recurrent as _recurrent
from zoo.ops.attention import scaled_dot_product_attention, scaled_dot_product_attention_reference
from zoo.ops.bias_act import ACTIVATIONS, bias_act, bias_act_reference
from zoo.ops.conv import (
    CONV_ALGORITHMS,
    conv,
    conv_algorithm,
    conv1d,
    conv2d,
    conv3d,
    conv_reference,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    conv_transpose_reference,
)
from zoo.ops.linear import linear, linear_reference
from zoo.ops.recurrent import (
    gru_layer,
    gru_layer_reference,
    lstm_layer,
    lstm_layer_reference,
    rnn_layer,
    rnn_layer_reference,
)

extension_status = _extension.status

# Load zoo._C now, outside any torch.compile trace (dynamo cannot trace the
# loader's lock). A failure is only recorded here; `auto` warns on first use.
if current() != "torch":
    extension_status()

# Op name (as used in ModelSpec.ops) -> (zoo op, PyTorch reference).
OPS = {
    "bias_act": (bias_act, bias_act_reference),
    "attention": (scaled_dot_product_attention, scaled_dot_product_attention_reference),
    "conv": (conv, conv_reference),
    "conv_transpose": (conv_transpose, conv_transpose_reference),
    "linear": (linear, linear_reference),
    "lstm": (lstm_layer, lstm_layer_reference),
    "gru": (gru_layer, gru_layer_reference),
    "rnn": (rnn_layer, rnn_layer_reference),
}
# Op name -> device types its compiled kernels cover (zoo doctor shows the ones this build serves).
KERNEL_DEVICES = {
    "bias_act": _bias_act.KERNEL_DEVICES,
    "attention": _attention.KERNEL_DEVICES,
    "conv": _conv.KERNEL_DEVICES,
    "conv_transpose": _conv.KERNEL_DEVICES,
    "linear": _linear.KERNEL_DEVICES,
    "lstm": _recurrent.KERNEL_DEVICES,
    "gru": _recurrent.KERNEL_DEVICES,
    "rnn": _recurrent.KERNEL_DEVICES,
}
# Op name -> device types whose kernels pass their tests but are slower than PyTorch's there (`ext` only).
EXT_ONLY_DEVICES = {
    "attention": _attention.EXT_ONLY_DEVICES,
    "conv": _conv.EXT_ONLY_DEVICES,
    "conv_transpose": _conv.EXT_ONLY_DEVICES,
    "linear": _linear.EXT_ONLY_DEVICES,
    "lstm": _recurrent.EXT_ONLY_DEVICES,
    "gru": _recurrent.EXT_ONLY_DEVICES,
    "rnn": _recurrent.EXT_ONLY_DEVICES,
}

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "CONV_ALGORITHMS",
    "OPS",
    "ExtensionUnavailableError",
    "KernelFallbackWarning",
    "backend",
    "bias_act",
    "bias_act_reference",
    "conv",
    "conv_algorithm",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_reference",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_transpose_reference",
    "current",
    "extension_status",
    "gru_layer",
    "linear",
    "linear_reference",
    "gru_layer_reference",
    "lstm_layer",
    "lstm_layer_reference",
    "rnn_layer",
    "rnn_layer_reference",
    "scaled_dot_product_attention",
    "scaled_dot_product_attention_reference",
    "use_extension",
]
