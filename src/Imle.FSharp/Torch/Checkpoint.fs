namespace Imle.Torch

module internal PendingCheckpoint =
    let pending = ()
