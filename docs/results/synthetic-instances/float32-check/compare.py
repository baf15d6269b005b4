# Recomputes the reference code's float32 minimum (NumPy) and L(θ) (PyTorch, the op order of tf-imle SYNTH/utils.py expect_obj)
# for the θ in thetas.txt and compares them with ReferenceEvaluator's values bit for bit, and the "gap < 0" decisions.
import itertools, struct, numpy as np, torch
rng = np.random.RandomState(0)
theta0 = rng.randn(10)
b_t = torch.abs(torch.from_numpy(rng.randn(10)).float())
sorted_bt = np.sort(b_t.numpy())
k = 5
mn = np.sum(sorted_bt[:k]**2) + np.sum((sorted_bt[k:] - 1)**2)
combs = list(itertools.combinations(range(10), k))
mat = np.zeros((len(combs), 10))
for i, c in enumerate(combs): mat[i, list(c)] = 1.
states = torch.from_numpy(mat).float()
def obj(z): return ((z - b_t)**2).sum()
def L(theta):
    w = states @ theta
    A = torch.log(torch.sum(torch.exp(w)))
    pmf = torch.exp(w - A)
    return torch.sum(torch.stack([p * obj(z) for p, z in zip(pmf, states)]))
bits = lambda f: struct.unpack('<i', struct.pack('<f', float(f)))[0]
lines = open('thetas.txt').read().split('\n')
print('numpy min', mn, mn.dtype, 'ours bits', lines[0], 'numpy bits', bits(mn))
same = diff = 0; signs_same = signs_diff = 0
for ln in lines[1:]:
    if not ln.strip(): continue
    parts = ln.split(); th = torch.tensor([float(x) for x in parts[:10]], dtype=torch.float32)
    v = L(th); ours = int(parts[10])
    if bits(v) == ours: same += 1
    else: diff += 1
    ov = struct.unpack('<f', struct.pack('<i', ours))[0]
    if ((np.float32(v) - mn) < 0) == ((np.float32(ov) - mn) < 0): signs_same += 1
    else: signs_diff += 1
print('torch', torch.__version__, 'bit-identical', same, 'different', diff, 'rule decisions same', signs_same, 'different', signs_diff)
neg = 0
for ln in lines[1:]:
    if not ln.strip(): continue
    ov = struct.unpack('<f', struct.pack('<i', int(ln.split()[10])))[0]
    if np.float32(ov) - mn < 0: neg += 1
print('rule fires (ours) on', neg, 'of', len(lines)-2)
zs = torch.tensor([0.,1,1,0,1,0,1,0,0,1])
print('obj(z*) torch', obj(zs).item(), bits(obj(zs)), 'min', bits(mn), 'diff', np.float32(obj(zs)) - mn)
