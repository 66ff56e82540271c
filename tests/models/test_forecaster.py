"""ForecastNet: shapes per mode, the rollouts agree with step-by-step use, config checks."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.forecaster import ForecasterConfig, ForecastNet

T, B, C, F, K = 6, 3, 2, 1, 4


def make(mode: str, gaussian: bool = False, cell: str = "lstm") -> ForecastNet:
    torch.manual_seed(0)
    cfg = ForecasterConfig(
        n_targets=C, n_future=F, horizon=K, mode=mode, cell=cell, hidden_size=8, gaussian=gaussian
    )
    return ForecastNet(cfg).eval()


def data():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, C + F, generator=g)
    fut = torch.randn(K, B, F, generator=g)
    return x, fut


@pytest.mark.parametrize("mode", ["many_to_one", "direct", "autoregressive", "seq2seq"])
@pytest.mark.parametrize("gaussian", [False, True])
def test_output_shapes(mode, gaussian):
    x, fut = data()
    out = make(mode, gaussian, cell="gru")(x, fut)
    assert out.mean.shape == (K, B, C)
    assert (out.scale is not None) == gaussian
    if gaussian:
        assert out.scale.shape == (K, B, C) and bool((out.scale > 0).all())


def test_autoregressive_teacher_forcing_matches_free_running_on_own_outputs():
    net = make("autoregressive")
    x, fut = data()
    with torch.no_grad():
        free = net(x, fut).mean
        net.train()  # teacher forcing with its own predictions must reproduce them
        forced = net(x, fut, y=free).mean
    torch.testing.assert_close(forced, free)


def test_many_to_one_slides_the_window():
    net = make("many_to_one")
    x, fut = data()
    with torch.no_grad():
        out = net(x, fut).mean  # (K, B, C)
        window = x
        for k in range(2):
            enc, _ = net.encoder(window)
            step = net.head(enc[-1:])
            torch.testing.assert_close(step, out[k : k + 1])
            window = torch.cat([window[1:], torch.cat([step, fut[k : k + 1]], -1)])
        net.train()
        assert net(x, fut).mean.shape == (1, B, C)  # training: next value only


def test_sample_paths_shape_and_loss():
    net = make("autoregressive", gaussian=True)
    x, fut = data()
    paths = net.sample_paths(x, fut, samples=5, generator=torch.Generator().manual_seed(0))
    assert paths.shape == (5, K, B, C)
    y = torch.zeros(K, B, C)
    assert net.loss(net(x, fut), y).dim() == 0


def test_config_errors():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        ForecasterConfig(mode="tcn")
    with pytest.raises(TypeError, match="`hidden_size` must be int"):
        ForecasterConfig(hidden_size=8.5)
    with pytest.raises(ValueError, match="cannot roll 2 past covariate"):
        ForecasterConfig(n_past=2, horizon=3, mode="autoregressive")
    with pytest.raises(ValueError, match="unknown ForecasterConfig key"):
        ForecasterConfig.from_dict({"hidden": 3})
    with pytest.raises(ValueError, match=r"`x` must be \(T, B, 3\)"):
        make("direct")(torch.zeros(T, B, 5), torch.zeros(K, B, F))


@pytest.mark.parametrize("norm", ["last", "mean", "revin"])
def test_window_stats_invert_exactly(norm):
    torch.manual_seed(0)
    net = ForecastNet(ForecasterConfig(n_targets=C, n_future=F, horizon=K, norm=norm)).eval()
    x, _ = data()
    loc, s = net.window_stats(x)
    assert loc.shape == s.shape == (1, B, C) and bool((s > 0).all())
    z = (x[..., :C] - loc) / s
    torch.testing.assert_close(z * s + loc, x[..., :C])
    if norm == "revin":  # each normalised window has mean 0 and std 1
        torch.testing.assert_close(z.mean(0), torch.zeros(B, C), atol=1e-5, rtol=0)
        torch.testing.assert_close(z.std(0, unbiased=False), torch.ones(B, C), atol=1e-3, rtol=0)


@pytest.mark.parametrize("mode", ["many_to_one", "direct", "autoregressive", "seq2seq"])
@pytest.mark.parametrize("norm", ["last", "mean", "revin"])
def test_instance_norm_is_shift_equivariant(mode, norm):
    # Shifting the targets (revin: and scaling them) shifts (scales) the forecast by exactly
    # as much, intervals included: the network never sees the window's level.
    torch.manual_seed(0)
    cfg = ForecasterConfig(
        n_targets=C, n_future=F, horizon=K, mode=mode, hidden_size=8, gaussian=True, norm=norm
    )
    net = ForecastNet(cfg).eval()
    x, fut = data()
    a = 3.0 if norm == "revin" else 1.0
    moved = torch.cat([a * x[..., :C] + 100.0, x[..., C:]], dim=-1)
    with torch.no_grad():
        base, out = net(x, fut), net(moved, fut)
        torch.testing.assert_close(out.mean, a * base.mean + 100.0, atol=1e-3, rtol=1e-5)
        torch.testing.assert_close(out.scale, a * base.scale, atol=1e-4, rtol=1e-4)
        if mode == "autoregressive":
            gen = [torch.Generator().manual_seed(3) for _ in range(2)]
            p0 = net.sample_paths(x, fut, samples=4, generator=gen[0])
            p1 = net.sample_paths(moved, fut, samples=4, generator=gen[1])
            torch.testing.assert_close(p1, a * p0 + 100.0, atol=1e-3, rtol=1e-5)


def test_norm_config_error():
    with pytest.raises(ValueError, match="`norm` must be one of"):
        ForecasterConfig(norm="minmax")


@pytest.mark.parametrize("mode", ["many_to_one", "direct", "autoregressive", "seq2seq"])
def test_point_losses_are_the_mean_squared_and_absolute_errors(mode):
    torch.manual_seed(0)
    x, fut = data()
    y = torch.randn(K, B, C, generator=torch.Generator().manual_seed(2))
    got = {}
    for loss in ("mse", "mae"):
        cfg = ForecasterConfig(n_targets=C, n_future=F, horizon=K, mode=mode, loss=loss)
        torch.manual_seed(0)
        net = ForecastNet(cfg).train()
        out = net(x, fut)
        err = out.mean - y[: out.mean.shape[0]]
        want = err.pow(2).mean() if loss == "mse" else err.abs().mean()
        got[loss] = net.loss(out, y)
        torch.testing.assert_close(got[loss], want)
    assert not torch.equal(got["mse"], got["mae"])


def test_a_gaussian_model_trains_on_its_nll_whatever_the_point_loss():
    x, fut = data()
    y = torch.zeros(K, B, C)
    losses = []
    for loss in ("mse", "mae"):
        torch.manual_seed(0)
        cfg = ForecasterConfig(n_targets=C, n_future=F, horizon=K, gaussian=True, loss=loss)
        net = ForecastNet(cfg).eval()
        out = net(x, fut)
        nll = torch.nn.functional.gaussian_nll_loss(out.mean, y, out.scale.pow(2), full=True)
        losses.append(net.loss(out, y))
        torch.testing.assert_close(losses[-1], nll)
    torch.testing.assert_close(losses[0], losses[1])


def test_loss_config_error_and_older_configs():
    with pytest.raises(ValueError, match=r"`loss` must be one of \('mse', 'mae'\), got 'huber'"):
        ForecasterConfig(loss="huber")
    old = ForecasterConfig(horizon=2).to_dict()
    del old["loss"]  # a run saved before the option reads as it trained: MSE
    assert ForecasterConfig.from_dict(old).loss == "mse"
