"""Frozen configuration objects: the whole recipe of a run, passed down to every library.

Entry points build these from absl flags (`mimnet_tf/flags.py`); libraries and layers never read
flags. Every config round-trips through `to_dict` / `from_dict` (a checkpoint directory keeps a
`config.json` so that edit/export/evaluate rebuild exactly the model that was trained).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, NamedTuple

from mimnet_tf import files

DATASETS = ("synthbirds", "cub", "oxford102", "celeba", "deepfashion", "manifest")
MODELS = ("mimnet", "mirrorgan")
PHASE_SCHEDULES = ("alternate", "reconstruction_first", "reconstruction_only", "adversarial_only")
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
LR_SCHEDULES = ("constant", "cosine", "step")
# the values of --colour_swap_colours and --colour_swap_shading (also checked by models/recolour.py)
COLOUR_SWAP_COLOURS = ("random", "batch")
COLOUR_SWAP_SHADINGS = ("additive", "multiplicative")
# the values of --colour_swap_described: which colour names a caption's colour words are read with
COLOUR_NAME_TABLES = ("", "xkcd", "css")
SWAP_LOCALISATION_POOLS = ("area", "max")  # --swap_localisation_pool (also checked by losses.py)


def option(default, help_text: str, flag: str = ""):
    """A config field: its default, and the help its flag shows (`flags.py`).

    `flag` names the flag (and config.json key) of a field inside a group when it is not the
    group's prefix + the field's name (see `group`).
    """
    return dataclasses.field(default=default, metadata={"help": help_text, **({"flag": flag} if flag else {})})


def group(kind, prefix: str):
    """A config field that holds a nested frozen dataclass `kind` of related switches.

    Its fields stay flat everywhere outside Python: each is the flag (and the config.json key of
    the section) `prefix + name`, as it was before the group existed, so flagfiles and the
    config.json of older runs keep their meaning.
    """
    return dataclasses.field(default_factory=kind, metadata={"group_prefix": prefix})


class FlatField(NamedTuple):
    """A leaf of a config section: its flag name, where it sits, its field and its default."""

    name: str  # the flag and config.json key
    path: tuple[str, ...]  # attribute names from the section down to the value
    field: dataclasses.Field
    default: Any


def flat_fields(kind) -> list[FlatField]:
    """Every leaf field of the section class `kind`, groups expanded, in declaration order."""
    leaves = []
    for field in dataclasses.fields(kind):
        prefix = field.metadata.get("group_prefix")
        if prefix is None:
            leaves.append(FlatField(field.name, (field.name,), field, field.default))
            continue
        for inner in flat_fields(field.default_factory):
            name = inner.field.metadata.get("flag") or prefix + inner.name
            leaves.append(FlatField(name, (field.name, *inner.path), inner.field, inner.default))
    return leaves


def flatten(section) -> dict[str, Any]:
    """`flag name -> value` of a section object (the layout of its part of config.json)."""
    values = {}
    for leaf in flat_fields(type(section)):
        value = section
        for attribute in leaf.path:
            value = getattr(value, attribute)
        values[leaf.name] = value
    return values


def unflatten(kind, values: dict[str, Any]):
    """The section `kind` built from `flag name -> value` (missing names keep their defaults).

    Raises:
        TypeError: a name that is no flag of `kind` (a programming error, as for a dataclass).
    """
    leaves = flat_fields(kind)
    unknown = set(values) - {leaf.name for leaf in leaves}
    if unknown:
        raise TypeError(f"{kind.__name__} has no field with the flag name(s) {sorted(unknown)}")
    by_group: dict[tuple[str, ...], dict[str, Any]] = {}  # path of a group -> its given fields
    for leaf in leaves:
        if leaf.name in values:
            by_group.setdefault(leaf.path[:-1], {})[leaf.path[-1]] = values[leaf.name]
    return _assemble(kind, (), by_group)


def _assemble(kind, path: tuple[str, ...], by_group: dict[tuple[str, ...], dict[str, Any]]):
    kwargs = dict(by_group.get(path, {}))
    for field in dataclasses.fields(kind):
        if "group_prefix" in field.metadata:
            kwargs[field.name] = _assemble(field.default_factory, path + (field.name,), by_group)
    return kind(**kwargs)


def replace_flags(section, **values):
    """`dataclasses.replace` by flag names: `replace_flags(train, colour_swap=1.0, max_steps=5)` sets
    `train.colour_swap.probability` and `train.max_steps`."""
    return unflatten(type(section), {**flatten(section), **values})


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data lives and how it becomes batches."""

    dataset: str = option("synthbirds",
        'Which dataset: synthbirds (rendered on first use), cub, oxford102, celeba, deepfashion, or '
        'manifest (any CSV/JSON Lines of image, caption).')
    data_dir: str = option("data/synthbirds", 'the raw layout a user downloads (or SynthBirds renders)')
    prepared_dir: str = option("", 'sharded TFRecords + vocab.txt; "" means <data_dir>/prepared')
    manifest: str = option("", 'CSV or JSONL (image, caption) for --dataset=manifest')
    caption_file: str = option("", 'CelebA: captions file; "" generates captions from attributes')
    split_rule: str = option("",
        '"" the dataset\'s own split files; "random": the paper\'s seeded 80/20 (CelebA, DeepFashion)')
    image_size: int = option(64, 'S: the fine image; the coarse image is S/2')
    load_size: int = option(0, 'resize-before-crop size; 0 means S * 76 / 64 (AttnGAN) when cropping')
    random_crop: bool = option(True, 'Training images are loaded larger and randomly cropped to --image_size.')
    random_flip: bool = option(True, 'Training images are flipped left-right at random.')
    max_words: int = option(18, 'Caption length in tokens; longer captions are cut, shorter ones padded.')
    min_word_count: int = option(1, 'words rarer than this in the training captions map to <unk>')
    unknown_word_rate: float = option(0.0,
        'Training captions: each word is read as <unk> with probability rate / 2, and an <unk> is '
        'inserted before it with probability rate / 2, so words a user types that the vocabulary does'
        ' not have are read past (not in the paper).')
    batch_size: int = option(16, 'Examples per training step (the global batch, split over the devices).')
    shuffle_buffer: int = option(4096, 'Examples in the tf.data shuffle buffer.')
    num_shards: int = option(8, 'TFRecord shards per split written by prepare.')
    use_bbox: bool = option(True, 'CUB: crop around the bounding box as AttnGAN does')
    strict: bool = option(False, 'a corrupt image is an error rather than skipped and counted')
    seed: int = option(0, 'Seed of the data order, the augmentation and the rendered SynthBirds scenes.')
    synthbirds_num_train: int = option(6000, 'SynthBirds only: how much to render when the data is missing.')
    synthbirds_num_test: int = option(600, 'SynthBirds test images rendered on first use.')

    @property
    def resolved_prepared_dir(self) -> str:
        return self.prepared_dir or os.path.join(self.data_dir, "prepared")

    @property
    def resolved_load_size(self) -> int:
        if self.load_size:
            return self.load_size
        return int(round(self.image_size * 76 / 64)) if self.random_crop else self.image_size


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of MIM-Net (and the parts MirrorGAN shares)."""

    model: str = option("mimnet", 'Which model: mimnet (text-guided editing) or mirrorgan (text-to-image).')
    vocab_size: int = option(0, 'filled from the vocabulary file at build time')
    max_words: int = option(18, "Caption length in tokens the model reads (the same flag as the data's).")
    image_size: int = option(64, "S, the edited image's size in pixels (the same flag as the data's).")
    embed_dim: int = option(300, 'Text encoder (STEM, embedding -> Bi-LSTM): the word embedding width.')
    text_dim: int = option(256, 'width of a word feature (both LSTM directions concatenated)')
    word_vectors: str = option("", 'optional local fastText .vec / GloVe .txt to initialise embeddings')
    text_dropout: float = option(0.0, "Dropout on the text encoder's word features during training.")
    use_memory: bool = option(True, 'Memory bank (Eq. 1-3). False: texture features straight from the words (ablation)')
    texture_word_residual: bool = option(False,
        "Texture features = memory read + a projection of the word itself, so a word's own content "
        'reaches ICM/FIR while the memory attention is still diffuse (not in the paper).')
    memory_size: int = option(256, "N, the memory's slots (Eq. 1-3).")
    memory_temperature: float = option(0.1, 'softmax temperature of the word->memory attention (Eq. 2)')
    memory_similarity: str = option("cosine",
        'Eq. 2 logits: "cosine", or the paper\'s "dot" (saturates; see MemoryBank)')
    base_channels: int = option(32,
        'Image / boundary encoders and generator widths. channels at full resolution; doubled per '
        'downsampling')
    feature_downsample: int = option(8, 'F_I and E live at S / feature_downsample')
    image_encoder_weights: str = option("", 'optional local weights file for the image encoder')
    image_encoder_from_damsm: bool = option(False, "start the image encoder from the DAMSM's (pretrained CNN)")
    generator_init_dir: str = option("",
        "start the generator from the latest checkpoint of another run's model directory, at any "
        'image size (not in the paper)')
    use_tlu: bool = option(True, 'False: A = 1 everywhere (ablation "w/o TLU")')
    tlu_init_bias: float = option(0.0, "Initial bias of the TLU's logit (Eq. 9): negative starts the map closed.")
    num_residual_blocks: int = option(2, "Residual blocks that produce ICM's manipulated features F_c (Eq. 5-6).")
    fir_keys: str = option("texture",
        'FIR (and ICM word attention) attend by "texture" (Eq. 10) or the contextual "words"')
    image_skips: bool = option(False, 'gate encoder skip features by 1 - A while decoding (not in the paper)')
    icm_word_attention: bool = option(False, "ICM's F_c also gets a per-position word context (not in the paper)")
    icm_query_image: bool = option(False,
        'That word attention queries with the image features as well as the boundary features: the '
        'image encoder (from the DAMSM) was pretrained to match regions to words (not in the paper).')
    disc_channels: int = option(32, 'Discriminators (Eq. 12-13): the width of their first layer.')
    damsm_dir: str = option("",
        'Where the pretrained DAMSM text encoder lives (a directory written by pretrain_damsm).')
    freeze_text_encoder: bool = option(True, 'Keep the (DAMSM-pretrained) text encoder fixed, as the paper does.')
    noise_dim: int = option(100, 'MirrorGAN: width of the noise vector z.')
    condition_dim: int = option(100, "MirrorGAN: width of the conditioning augmentation's sentence code.")
    stream_embed_dim: int = option(256, "MirrorGAN: STREAM captioner's word embedding width.")
    stream_hidden_dim: int = option(512, "MirrorGAN: STREAM captioner's LSTM width.")
    stream_dir: str = option("", 'MirrorGAN: model directory of the pretrained STREAM captioner (pretrain_stream).')
    mirrorgan_stages: int = option(2, 'MirrorGAN: generator stages (each doubles the image size).')


# Model fields that only say where initial weights come from: a resumed run may change them.
INITIALISATION_FIELDS = ("vocab_size", "damsm_dir", "word_vectors", "image_encoder_weights", "stream_dir",
                         "generator_init_dir")


def model_differences(old: ModelConfig, new: ModelConfig, ignore: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """(flag name, old value, new value) of every ModelConfig field not in `ignore` that differs."""
    old_values, new_values = flatten(old), flatten(new)
    return [(name, value, new_values[name]) for name, value in old_values.items()
            if name not in ignore and value != new_values[name]]


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Eq. 20 (generator) and Eq. 21 (discriminator) weights, plus optional extra terms."""

    reality: float = option(1.0, 'lambda_1: weight of L_G_r, the reality loss of the edit (Eq. 18)')
    conformity: float = option(1.0, 'lambda_2: weight of L_G_t, the text conformity loss of the edit (Eq. 19)')
    reconstruction: float = option(1.0, 'lambda_3, L_rec (Eq. 14)')
    pseudo_gt: float = option(1.0, 'lambda_4, L_pgt (Eq. 15)')
    randomised_memory: float = option(1.0, 'lambda_5, L_rmt (Eq. 16)')
    coarse_stage: float = option(1.0, "mu_1 (Eq. 21) and the coarse stage's share of the G terms")
    fine_stage: float = option(1.0, "mu_2 (Eq. 21) and the fine stage's share of the G terms")
    damsm: float = option(0.0,
        'Optional terms (0 disables them): not in the MIM-Net paper, each a config switch. DAMSM '
        'word+sentence matching of the edited image and the target text')
    redescription: float = option(0.0, 'STREAM cross-entropy of the target caption from the edit')
    kl: float = option(1.0, 'MirrorGAN: weight of the conditioning augmentation KL term')
    stream: float = option(10.0, 'MirrorGAN redescription weight (lambda)')
    swap_localisation: float = option(0.0, 'BCE of the TLU map A to where colour swap repainted the input')
    swap_localisation_pool: str = option("area",
        'repainted map to A\'s grid: "area" (share of a cell) or "max" (any pixel)')
    swap_localisation_balance: bool = option(False, 'repainted cells weigh as --colour_swap_area_reference scales them')
    pseudo_gt_normalised: bool = option(False, "sum A F / sum A instead of the paper's (1/HW) sum A F")
    rmt_concentration: float = option(0.0, ">0: Dirichlet draw; 0: the paper's uniform-then-normalised")


@dataclasses.dataclass(frozen=True)
class ColourSwapConfig:
    """Colour swap, the reconstruction phase's self-supervision (not in the paper).

    With probability `probability` a training image has up to `regions` colour regions repainted
    (found without masks, `models/recolour.py`) before the generator reconstructs the original
    from it with the paired caption: rebuilding the image then needs the caption's colours. The
    flags are `--colour_swap` (the probability) and `--colour_swap_<field>`. The loss on where the
    TLU map opens, `--swap_localisation`, is a loss weight (LossWeights) that needs this on.
    """

    probability: float = option(0.0,
        "Probability that a reconstruction input has up to --colour_swap_regions colour regions repainted "
        "(0: off; not in the paper)", flag="colour_swap")
    regions: int = option(2, 'at most this many repainted regions per image')
    threshold: float = option(0.25, 'colour distance to the seed pixel that joins a region ([-1, 1] units)')
    centre: float = option(0.6, 'seeds are drawn in the central fraction of each side')
    weight: float = option(1.0, 'L1 weight of repainted pixels (1: the plain mean)')
    colours: str = option("random", 'new colours: "random" RGB, or "batch" (another training image\'s)')
    candidates: int = option(1, 'seeds tried per region; the smallest region (an object part) is repainted')
    min_area: float = option(0.002, 'a candidate region must cover this much of the image (after erosion)')
    max_area: float = option(1.0, 'a region covering more of the image than this is not repainted')
    area_reference: float = option(0.0, "> 0: a smaller region's pixels weigh more, as if it had this area")
    unmix_edges: bool = option(False, "repaint a region's anti-aliased edge by the share of its colour")
    shading: str = option("additive", '"additive" (shift colours) or "multiplicative" (albedo x light)')
    described: str = option("",
        'a colour-name table: only regions whose colour the caption names are repainted')
    decoys: int = option(0,
        'up to this many regions whose colour the caption does not name are repainted in the input and '
        'the target alike, so a region that looks repainted is not one to fix unless the caption names '
        'it (needs --colour_swap_described)')


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation loop."""

    model_dir: str = option("runs/synthbirds",
        'Where the run keeps config.json, vocab.txt, checkpoints, summaries and its log; rerunning '
        'the same command resumes from it.')
    g_learning_rate: float = option(2e-4, 'Adam learning rate of the generator (the memory and text encoder included).')
    d_learning_rate: float = option(2e-4, 'Adam learning rate of the discriminators.')
    beta_1: float = option(0.5, 'Adam beta_1 of both optimizers.')
    beta_2: float = option(0.999, 'Adam beta_2 of both optimizers.')
    gradient_clip_norm: float = option(0.0, "> 0: Adam's global_clipnorm on both optimizers (not in the paper)")
    lr_schedule: str = option("constant",
        'Learning-rate schedule: constant, cosine (decays to 0 over the run) or step.')
    lr_decay_steps: int = option(0, '--lr_schedule=step: steps between decays.')
    lr_decay_rate: float = option(0.5, '--lr_schedule=step: factor of each decay.')
    epochs: int = option(600, 'Training length in epochs when --max_steps is 0.')
    max_steps: int = option(0, 'Training length in steps (0: --epochs decide).')
    phase_schedule: str = option("alternate",
        'How the two phases interleave: alternate (the paper: both every step), reconstruction_first '
        '(--reconstruction_steps first), reconstruction_only, adversarial_only.')
    reconstruction_steps: int = option(0, 'K for --phase_schedule=reconstruction_first')
    colour_swap: ColourSwapConfig = group(ColourSwapConfig, prefix="colour_swap_")
    checkpoint_every: int = option(500, 'Steps between checkpoints (one is also written at the end and on Ctrl-C).')
    keep_checkpoints: int = option(3, 'Newest checkpoints kept in the model directory.')
    start_over_if_damaged: bool = option(False,
        'when --model_dir holds checkpoints and none restores, move them aside and train from step 0 '
        '(else stop with an error)')
    log_every: int = option(50, 'Steps between records of train_log.jsonl and the summaries.')
    image_log_every: int = option(500, 'Steps between logged sample edits (0: none).')
    strategy: str = option("auto",
        'Distribution: auto, default (one device), mirrored (every local GPU) or multiworker '
        '(TF_CONFIG).')
    mixed_precision: bool = option(False, 'Train in mixed_float16 with loss scaling (GPUs).')
    bfloat16: bool = option(False,
        'Train in mixed_bfloat16: bfloat16 compute, float32 variables, no loss scaling (CPUs with '
        'AVX512_BF16 or AMX, TPUs, recent GPUs).')
    jit_compile: bool = option(False, 'XLA-compile the training step (only without a distribution strategy).')
    seed: int = option(0, "Seed of the initial weights and the training step's random draws.")
    progress: bool = option(True, 'Show a progress bar on the console.')
    damsm_learning_rate: float = option(2e-3,
        'pretrain_damsm: Adam learning rate of the DAMSM (it writes --damsm_dir).')
    damsm_decay_per_epoch: float = option(0.98, 'pretrain_damsm: learning-rate decay per epoch.')
    damsm_epochs: int = option(600, 'pretrain_damsm: epochs of DAMSM pretraining when --damsm_steps is 0.')
    damsm_steps: int = option(0, 'pretrain_damsm: training steps (0: --damsm_epochs decide).')


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    checkpoint: str = option("",
        'Model directory written by `python -m mimnet_tf.train` (config.json, vocab.txt, '
        'checkpoints/).')
    out: str = option("", 'Output directory (SavedModel: a TF Serving version directory such as models/mimnet/1).')
    batch_size: int = option(1, 'Static batch size of the TFLite model.')
    variants: tuple[str, ...] = option(("fp32", "fp16", "dynamic", "int8"),
        'Comma-separated TFLite variants among fp32, fp16, dynamic, int8.')
    opset: int = option(17, 'The ONNX opset the export targets.')
    representative_samples: int = option(128, 'Training examples calibrating the int8 TFLite model.')
    overwrite: bool = option(False,
        'Replace an existing export at --out. Its files that the new export does not write are kept '
        "(a SavedModel folder's in <out>.replaced-<time>), never deleted.")
    int8_float_threshold: float = option(0.3,
        "int8: ops whose quantization error exceeds this share of their values' spread stay float "
        '(inf: only REVERSE_SEQUENCE and DIV).')
    check_cases: int = option(64, 'SynthBirds edit-benchmark cases each export is scored on against Keras (0: skip).')
    check_examples: int = option(16, "Training examples each export's PSNR against Keras is measured on.")
    min_psnr: float = option(35.0, 'Refuse an export whose edited image is below this PSNR against Keras (dB).')
    max_accuracy_drop: float = option(0.02, "Refuse an export whose attribute accuracy is more than this below Keras'.")
    keep_failing: bool = option(False, 'Keep a refused export under its usual name (the exit code is still 2).')


# The sections of a run, by their name in RunConfig and config.json (also the order of the flags).
SECTIONS = {"data": DataConfig, "model": ModelConfig, "loss": LossWeights, "train": TrainConfig}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; saved as `config.json` in the model directory."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossWeights = LossWeights()
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, Any]:
        """`{section: {flag name: value}}`: groups such as TrainConfig.colour_swap are written flat,
        by their flag names, so config.json reads the same with or without them."""
        return {section: flatten(getattr(self, section)) for section in SECTIONS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunConfig":
        """Raises ValueError naming the section or field that is not of its type."""
        if not isinstance(values, dict):
            raise ValueError(f"a JSON {type(values).__name__}, expected an object of the sections "
                             "data, model, loss, train")
        return cls(**{section: _build(kind, values.get(section, {}), section) for section, kind in SECTIONS.items()})

    def save(self, path: str) -> None:
        """Writes config.json in one rename: a killed process leaves the old file or the new one."""
        files.write_json(path, self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str) -> "RunConfig":
        """Raises FileNotFoundError, or ValueError naming the file and what in it is wrong."""
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No run configuration at {path}: a model directory written by "
                "`python -m mimnet_tf.train` holds config.json beside its checkpoints."
            )
        try:
            with open(path, encoding="utf-8") as f:
                return cls.from_dict(json.load(f))
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, a field of the wrong type
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{path} is not a run configuration ({reason}); expected the config.json "
                             "`python -m mimnet_tf.train` writes") from None


# Switches of experiments that were removed, with the value that meant "off": a config.json that
# has one of them on describes a model this code no longer builds (docs/synthbirds_study.md has
# what the measured ones did). Other unknown keys are ignored.
REMOVED_FIELDS = {"tlu_exclusive": False, "fine_tlu": False, "fir_full_attention": False,
                  "memory_only_reconstruction": False, "colour_dropout": 0.0, "tlu_warmup_steps": 0,
                  "rmt_as_fake": False}


def _build(kind, values: dict[str, Any], section: str):
    """Builds a section from its flat part of config.json, ignoring unknown keys and restoring tuples.

    Raises:
        ValueError: `values` is not an object, a value is not of its field's type (naming
            `section.field`; an int is a float too), or a removed switch (REMOVED_FIELDS) is on.
    """
    if not isinstance(values, dict):
        raise ValueError(f"{section} is a JSON {type(values).__name__}, expected an object")
    defaults = flatten(kind())
    kwargs = {}
    for key, value in values.items():
        if key in REMOVED_FIELDS and value != REMOVED_FIELDS[key]:
            raise ValueError(f"{key}={value!r}: this switch was removed (its experiment did not pay); the model was "
                             f"made by an older mimnet_tf")
        if key not in defaults:
            continue
        if isinstance(value, list):
            value = tuple(value)
        expected = type(defaults[key])
        fits = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value, fits = float(value), True
        if not fits:
            raise ValueError(f"{section}.{key} is {value!r}, expected a {expected.__name__}")
        kwargs[key] = value
    return unflatten(kind, kwargs)


def validate(config: RunConfig) -> None:
    """Raises ValueError naming the field when a configuration is inconsistent."""
    checks = [
        (config.data.dataset in DATASETS, f"--dataset={config.data.dataset!r}: expected one of {DATASETS}"),
        (config.model.model in MODELS, f"--model={config.model.model!r}: expected one of {MODELS}"),
        (config.train.phase_schedule in PHASE_SCHEDULES,
         f"--phase_schedule={config.train.phase_schedule!r}: expected one of {PHASE_SCHEDULES}"),
        (config.train.strategy in STRATEGIES, f"--strategy={config.train.strategy!r}: expected one of {STRATEGIES}"),
        (not (config.train.mixed_precision and config.train.bfloat16),
         "--mixed_precision and --bfloat16: choose one (float16 with loss scaling, or bfloat16)"),
        (config.train.lr_schedule in LR_SCHEDULES,
         f"--lr_schedule={config.train.lr_schedule!r}: expected one of {LR_SCHEDULES}"),
        (config.data.image_size % 16 == 0 and config.data.image_size >= 32,
         f"--image_size={config.data.image_size}: expected a multiple of 16, at least 32"),
        (config.data.image_size % config.model.feature_downsample == 0,
         f"--feature_downsample={config.model.feature_downsample} must divide --image_size={config.data.image_size}"),
        (config.model.memory_similarity in ("cosine", "dot"),
         f"--memory_similarity={config.model.memory_similarity!r}: expected 'cosine' or 'dot'"),
        (config.model.fir_keys in ("texture", "words"),
         f"--fir_keys={config.model.fir_keys!r}: expected 'texture' or 'words'"),
        (not config.model.icm_query_image or config.model.icm_word_attention,
         "--icm_query_image needs --icm_word_attention"),
        (config.train.colour_swap.colours in COLOUR_SWAP_COLOURS,
         f"--colour_swap_colours={config.train.colour_swap.colours!r}: expected one of {COLOUR_SWAP_COLOURS}"),
        (config.train.colour_swap.candidates >= 1,
         f"--colour_swap_candidates={config.train.colour_swap.candidates}: expected >= 1"),
        (config.loss.swap_localisation <= 0 or (config.train.colour_swap.probability > 0 and config.model.use_tlu),
         "--swap_localisation needs --colour_swap > 0 and --use_tlu"),
        (config.train.colour_swap.described in COLOUR_NAME_TABLES,
         f"--colour_swap_described={config.train.colour_swap.described!r}: expected one of {COLOUR_NAME_TABLES}"),
        (config.train.colour_swap.decoys >= 0, f"--colour_swap_decoys={config.train.colour_swap.decoys}: expected >= 0"),
        (config.train.colour_swap.decoys == 0 or config.train.colour_swap.described,
         "--colour_swap_decoys needs --colour_swap_described (decoys are regions the caption does not describe)"),
        (config.train.colour_swap.shading in COLOUR_SWAP_SHADINGS,
         f"--colour_swap_shading={config.train.colour_swap.shading!r}: expected one of {COLOUR_SWAP_SHADINGS}"),
        (config.loss.swap_localisation_pool in SWAP_LOCALISATION_POOLS,
         f"--swap_localisation_pool={config.loss.swap_localisation_pool!r}: expected one of {SWAP_LOCALISATION_POOLS}"),
        (config.train.colour_swap.area_reference >= 0,
         f"--colour_swap_area_reference={config.train.colour_swap.area_reference}: expected >= 0"),
        (config.data.batch_size > 0, f"--batch_size={config.data.batch_size}: expected > 0"),
        (config.data.max_words > 0, f"--max_words={config.data.max_words}: expected > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
