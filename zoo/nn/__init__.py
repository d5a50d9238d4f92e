"""nn.Modules on zoo's ops: drop-in for torch.nn (same arguments, same state_dict keys)."""

from zoo.nn.attention import Attention, KVCache, MultiheadAttention, apply_rotary
from zoo.nn.bias_act import Conv1dAct, Conv2dAct, Conv3dAct
from zoo.nn.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d, channels_last
from zoo.nn.linear import Linear, LinearAct
from zoo.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = ["Attention", "Conv1d", "Conv1dAct", "Conv2d", "Conv2dAct", "Conv3d", "Conv3dAct", "ConvTranspose1d",
           "ConvTranspose2d", "ConvTranspose3d", "GRU", "GRUCell", "KVCache", "LSTM", "LSTMCell",
           "Linear", "LinearAct", "MultiheadAttention", "RNN", "RNNCell", "apply_rotary", "channels_last"]
