"""Strict loading and open_clip's tower options through the CLI.

- Text options against open_clip itself (tests/data/clip_options, made by
  tests/reference/make_option_goldens.py): pool_type last / first / eos,
  no_causal_mask, proj_bias, proj_type none, norm_kwargs eps in both towers,
  and SigLIP's text options together under CustomTextCLIP's "text." keys
  with a tokenizer other than CLIP's (token ids work, strings are refused
  naming the tokenizer).
- Nothing computes silently wrong: layer scale (open_clip's ViT-M-16-alt:
  ls_1/ls_2 gamma tensors), an unknown tensor, vision pool_type avg,
  attentional_pool, mlp_ratio, CoCa's multimodal_cfg, an unknown config key,
  a Hugging Face text tower (hf_model_name) are each refused in one line
  naming the option or tensor; --allow-unused downgrades an unknown tensor
  to a warning and `info` does not count it as a weight (the weights of a
  refused tower it does count).
- Tower separation: a model whose text tower is unsupported still embeds
  images exactly (xlm-roberta-base-ViT-B-32's case), and `info` shows each
  tower's status.
- A model without a config file says once on stderr what it assumed."""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_util  # noqa: E402
from cli_util import CliCase, run  # noqa: E402
from test_cli_clip import close_to_ref, read_st, rows, write_st  # noqa: E402

DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
OPTIONS = os.path.join(DATA, "clip_options")
VIT = os.path.join(DATA, "clip_small_vit")
VARIANTS = ["pool_last", "pool_first", "pool_eos", "no_causal_mask", "proj_bias", "proj_none",
            "norm_eps", "siglip_text"]


def f32_tensor(shape, value):
    n = 1
    for s in shape:
        n *= s
    return {"dtype": "F32", "shape": list(shape)}, struct.pack("<%df" % n, *([value] * n))


class Options(CliCase):
    """Each option's features equal open_clip's (float64 reference)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def embed(self, kind, model, inp):
        out = os.path.join(self.tmp.name, "out.npy")
        flag = "--ids" if kind == "text" else "--pixels"
        rc, _, err = run("embed-" + kind, "--model", model, flag, inp, "--out", out,
                         "--device", "ref")
        self.assert_ok(rc, "", err)
        return rows(out)

    def test_each_option_matches_open_clip(self):
        for v in VARIANTS:
            with self.subTest(option=v):
                m = os.path.join(OPTIONS, v)
                close_to_ref(self, self.embed("text", m, os.path.join(OPTIONS, "ids.npy")),
                             rows(os.path.join(m, "text_features.npy")), v + " text")
                close_to_ref(self, self.embed("image", m, os.path.join(OPTIONS, "pixels.npy")),
                             rows(os.path.join(m, "image_features.npy")), v + " image")

    def test_other_tokenizer_refuses_strings_naming_it(self):
        m = os.path.join(OPTIONS, "siglip_text")
        rc, _, err = run("embed-text", "--model", m, "--out",
                         os.path.join(self.tmp.name, "x.npy"), "--device", "ref", "a cat")
        self.assert_one_line_error(rc, err, "timm/ViT-B-16-SigLIP", "token ids")
        rc, out, err = run("info", m)
        self.assert_ok(rc, out, err)
        self.assertIn("text status:  supported from token ids only (tokenizer "
                      "'timm/ViT-B-16-SigLIP'", out)


class Strict(CliCase):
    """Refusals by name, tower separation, --allow-unused, the no-config note."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def model(self, name, add=None, drop=(), config=None, hf=False):
        """A copy of the small ViT golden model with tensors added/dropped
        and model_cfg / config.json edited by config(cfg) (None: no config)."""
        src = os.path.join(VIT, "hf" if hf else "openai")
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        items, raw, meta = read_st(os.path.join(src, "model.safetensors"))
        items = [(k, v) for k, v in items if k not in drop]
        for k, (info, data) in (add or {}).items():
            items.append((k, info))
            raw[k] = data
        write_st(os.path.join(d, "model.safetensors"), items, raw, meta)
        if config is not None:
            name = "config.json" if hf else "open_clip_config.json"
            with open(os.path.join(src, name)) as f:
                cfg = json.load(f)
            config(cfg["model_cfg"] if not hf else cfg)
            with open(os.path.join(d, name), "w") as f:
                json.dump(cfg, f)
        return d

    def embed(self, kind, model, *extra):
        out = os.path.join(self.tmp.name, "out.npy")
        if os.path.exists(out):
            os.remove(out)
        flag, inp = ("--ids", "ids.npy") if kind == "text" else ("--pixels", "pixels.npy")
        rc, _, err = run("embed-" + kind, "--model", model, flag, os.path.join(VIT, inp), "--out",
                         out, "--device", "ref", *extra)
        return rc, err, out

    def assert_matches(self, kind, model, *extra):
        rc, err, out = self.embed(kind, model, *extra)
        self.assert_ok(rc, "", err)
        ref = os.path.join(VIT, "text_features.npy" if kind == "text" else "image_features.npy")
        close_to_ref(self, rows(out), rows(ref), kind)
        return err

    def test_layer_scale_is_used_not_ignored(self):
        # open_clip's ViT-M-16-alt: ls_init_value and ls_1/ls_2 gamma tensors
        # (clipcl once ignored them: image cosine 0.495 against open_clip).
        # Their numbers are checked against open_clip in cli_tower_options;
        # here: a gain of 0.5 on every residual branch must move the features.
        gammas = {"visual.transformer.resblocks.%d.ls_%d.gamma" % (b, i): f32_tensor([64], 0.5)
                  for b in range(2) for i in (1, 2)}
        m = self.model("ls", add=gammas,
                       config=lambda c: c["vision_cfg"].update(ls_init_value=1e-4))
        rc, err, out_path = self.embed("image", m)
        self.assert_ok(rc, "", err)
        got = rows(out_path)
        ref = rows(os.path.join(VIT, "image_features.npy"))
        diff = max(abs(a - b) for ra, rb in zip(got, ref) for a, b in zip(ra, rb))
        self.assertGreater(diff, 1e-2, "the layer-scale gains changed nothing")
        self.assert_matches("text", m)  # the text tower is untouched
        rc, out, err = run("info", m)
        self.assert_ok(rc, out, err)
        self.assertIn("image status: supported", out)
        self.assertIn("text status:  supported", out)
        # every tensor is a weight the graphs read: counted, gammas included
        rc, ref, err = run("info", os.path.join(VIT, "openai"))
        n = int([l for l in ref.splitlines() if l.startswith("parameters:")][0].split()[1])
        self.assertIn("parameters:   %d " % (n + 4 * 64), out)

    def test_unknown_tensor_is_an_error_or_with_allow_unused_a_warning(self):
        m = self.model("extra", add={"visual.extra_norm.weight": f32_tensor([64], 1.0)},
                       config=lambda c: None)
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "'visual.extra_norm.weight'", "[64]", "--allow-unused")
        err = self.assert_matches("image", m, "--allow-unused")
        self.assertIn("warning: tensor 'visual.extra_norm.weight' [64] is not used", err)
        rc, out, err = run("info", m)
        self.assert_one_line_error(rc, err, "'visual.extra_norm.weight'")
        rc, out, err = run("info", m, "--allow-unused")
        self.assert_ok(rc, out, err)
        rc, ref, err = run("info", os.path.join(VIT, "openai"))
        self.assert_ok(rc, ref, err)
        params = [l for l in out.splitlines() if l.startswith("parameters:")]
        self.assertEqual(params, [l for l in ref.splitlines() if l.startswith("parameters:")])

    def test_config_options_are_refused_by_name(self):
        cases = [
            ("pool_none", "vision_cfg", {"pool_type": "none"}, ["pool_type", "none"]),
            ("parallel", "vision_cfg", {"attentional_pool": "parallel"}, ["attentional_pool"]),
            ("qk", "vision_cfg", {"qk_norm": True}, ["qk_norm"]),
            ("unknown", "vision_cfg", {"rope": True}, ["'rope'"]),
            ("slope", "vision_cfg", {"act_kwargs": {"negative_slope": 0.1}}, ["act_kwargs"]),
            ("timm", "vision_cfg", {"timm_model_name": "convnext_base"}, ["timm_model_name"]),
        ]
        for name, tower, opts, names in cases:
            with self.subTest(option=name):
                m = self.model(name, config=lambda c, t=tower, o=opts: c[t].update(o))
                rc, err, _ = self.embed("image", m)
                self.assert_one_line_error(rc, err, *names)
                self.assert_matches("text", m)

    def test_options_the_weights_contradict_are_named(self):
        # implemented options (docs/models.md) whose tensors are not in the file:
        # the checkpoint is inconsistent, so nothing is computed from it
        cases = [
            ("attnpool", "vision_cfg", {"attentional_pool": True}, ["attentional_pool", "attn_pool"]),
            ("mlp", "vision_cfg", {"mlp_ratio": 4.9231}, ["mlp_ratio", "4.9231"]),
            ("noln", "vision_cfg", {"no_ln_pre": True}, ["no_ln_pre", "ln_pre"]),
            ("lsv", "vision_cfg", {"ls_init_value": 0.1}, ["ls_init_value", "ls_1.gamma"]),
            ("lst", "text_cfg", {"ls_init_value": 0.1}, ["ls_init_value", "ls_1.gamma"]),
        ]
        for name, tower, opts, names in cases:
            with self.subTest(option=name):
                m = self.model(name, config=lambda c, t=tower, o=opts: c[t].update(o))
                for t in ("image", "text"):
                    rc, err, _ = self.embed(t, m)
                    self.assert_one_line_error(rc, err, *names)

    def test_text_config_options_are_refused_by_name(self):
        cases = [
            ("hf", {"hf_model_name": "xlm-roberta-base"}, ["hf_model_name", "xlm-roberta-base"]),
            ("cls", {"embed_cls": True}, ["embed_cls"]),
            ("pool_none", {"pool_type": "none"}, ["pool_type"]),
            ("unknown", {"use_rope": 1}, ["'use_rope'"]),
        ]
        for name, opts, names in cases:
            with self.subTest(option=name):
                m = self.model(name, config=lambda c, o=opts: c["text_cfg"].update(o))
                rc, err, _ = self.embed("text", m)
                self.assert_one_line_error(rc, err, *names)
                self.assert_matches("image", m)

    def test_coca_is_refused_by_name(self):
        m = self.model("coca", config=lambda c: c.update(multimodal_cfg={"width": 64}))
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "multimodal_cfg", "CoCa")

    def test_hf_text_tower_still_embeds_images(self):
        # xlm-roberta-base-ViT-B-32: a standard ViT beside a Hugging Face text
        # encoder (open_clip's "text.transformer.*" and "text.proj.*" keys)
        text_keys = [k for k, _ in read_st(os.path.join(VIT, "openai", "model.safetensors"))[0]
                     if not k.startswith("visual.") and k != "logit_scale"]
        hf = {"text.transformer.embeddings.word_embeddings.weight": f32_tensor([8, 4], 0.1),
              "text.transformer.encoder.layer.0.attention.self.query.weight": f32_tensor([4, 4], 0.1),
              "text.proj.0.weight": f32_tensor([32, 4], 0.1)}

        def cfg(c):
            c["text_cfg"] = {"hf_model_name": "xlm-roberta-base", "hf_tokenizer_name":
                             "xlm-roberta-base", "hf_proj_type": "mlp", "hf_pooler_type":
                             "mean_pooler"}
        m = self.model("xlmr", add=hf, drop=text_keys, config=cfg)
        self.assert_matches("image", m)
        rc, err, _ = self.embed("text", m)
        self.assert_one_line_error(rc, err, "hf_model_name", "xlm-roberta-base")
        os.remove(os.path.join(m, "open_clip_config.json"))
        rc, err, _ = self.embed("text", m)
        err = "\n".join(l for l in err.splitlines() if not l.startswith("clipcl: note:"))
        self.assert_one_line_error(rc, err, "text.transformer.", "Hugging Face text encoder")

    def test_attentional_pool_tensors_the_config_denies_are_named(self):
        # CoCa / attentional_pool exports: visual.attn_pool.* beside the ViT,
        # with a config saying there is no pooler: an inconsistent checkpoint
        m = self.model("attnpool_nocfg", config=lambda c: None,
                       add={"visual.attn_pool.query": f32_tensor([4, 32], 0.1),
                            "visual.attn_pool.ln_q.weight": f32_tensor([32], 1.0)})
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "visual.attn_pool.query", "attentional_pool")

    def test_mlp_ratio_without_config_names_the_option(self):
        items, raw, _ = read_st(os.path.join(VIT, "openai", "model.safetensors"))
        key = "visual.transformer.resblocks.0.mlp.c_fc.weight"
        m = self.model("mlp_nocfg", drop=[key], add={key: f32_tensor([200, 64], 0.01)},
                       config=lambda c: None)
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "mlp_ratio", "200")

    def test_hf_config_keys(self):
        m = self.model("hf_inter", hf=True,
                       config=lambda c: c["vision_config"].update(intermediate_size=200))
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "intermediate_size")
        self.assert_matches("text", m)
        m = self.model("hf_siglip", hf=True, config=lambda c: c.update(model_type="siglip"))
        rc, err, _ = self.embed("image", m)
        self.assert_one_line_error(rc, err, "siglip")

    def test_no_config_says_what_it_assumed_once(self):
        d = os.path.join(self.tmp.name, "bare")
        os.makedirs(d)
        shutil.copy(os.path.join(VIT, "openai", "model.safetensors"), d)
        rc, err, _ = self.embed("image", d)
        self.assertEqual(rc, 0, err)
        notes = [l for l in err.splitlines() if "no open_clip_config.json or config.json" in l]
        self.assertEqual(len(notes), 1, err)
        self.assertIn("quick_gelu", notes[0])
        self.assertIn("eps 1e-05", notes[0])
        rc, err, _ = self.embed("image", os.path.join(VIT, "openai"))
        self.assertEqual(rc, 0, err)
        self.assertNotIn("no open_clip_config.json", err)


if __name__ == "__main__":
    cli_util.main()
