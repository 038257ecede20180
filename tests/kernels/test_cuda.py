"""The CUDA path (run by benchmarks/gpu_check.sh on a GPU; skipped elsewhere): every built-in model
trains and decodes on CUDA, the mosaic's two kernel paths agree there, CUDA agrees with the CPU,
and bf16 autocast runs."""
import pytest
import torch

from mosaic import available_models, build_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SMALL = dict(vocab_size=97, n_layer=2, n_head=4, n_embd=64, block_size=48)


def batch(device):
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 97, (4, 48), generator=gen).to(device)


@pytest.mark.parametrize("name", [n for n in available_models() if n in ("mosaic", "transformer", "lstm", "gru", "ssm")])
def test_cuda_equals_cpu_and_decodes(name):
    torch.manual_seed(0)
    cpu = build_model(name, **SMALL)
    gpu = build_model(name, **SMALL).cuda()
    gpu.load_state_dict(cpu.state_dict())
    idx = batch("cpu")
    logits_cpu, loss_cpu = cpu(idx, idx)
    logits_gpu, loss_gpu = gpu(idx.cuda(), idx.cuda())
    torch.testing.assert_close(logits_gpu.cpu(), logits_cpu, rtol=1e-3, atol=1e-3)
    loss_gpu.backward()
    assert all(torch.isfinite(p.grad).all() for p in gpu.parameters() if p.grad is not None)
    gpu.eval()
    prompt = idx[:1, :8].cuda()
    cached = gpu.generate(prompt, 8, temperature=0.0)
    assert torch.equal(cached, gpu.generate(prompt, 8, temperature=0.0, use_cache=False))


def test_mosaic_kernel_paths_agree_on_cuda():
    torch.manual_seed(0)
    ref = build_model("mosaic", **SMALL, kernels="reference").cuda()
    fast = build_model("mosaic", **SMALL, kernels="auto").cuda()
    fast.load_state_dict(ref.state_dict())
    idx = batch("cuda")
    for model in (ref, fast):
        model(idx, idx)[1].backward()
    torch.testing.assert_close(fast(idx)[0], ref(idx)[0], rtol=1e-4, atol=1e-4)
    for a, b in zip(fast.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-4)


def test_bf16_autocast_trains():
    model = build_model("mosaic", **SMALL).cuda()
    idx = batch("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        _, loss = model(idx, idx)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
