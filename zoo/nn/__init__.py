"""nn.Modules on zoo's ops: drop-in for torch.nn (same arguments, same state_dict keys)."""

from zoo.nn.bias_act import Conv1dAct, Conv2dAct, Conv3dAct, LinearAct

__all__ = ["Conv1dAct", "Conv2dAct", "Conv3dAct", "LinearAct"]
