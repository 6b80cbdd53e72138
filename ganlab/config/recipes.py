"""Dataset-aware defaults: the recipe ganlab recommends for a kind of data, applied under what a person set.

A person who picks MNIST and presses Start should get a DCGAN, not the 2-D defaults. The recipe is chosen
from the data's spec alone (points, or images by size and channels), never from its name or mode count, so
it is the same advice any data of that shape would get. The values live beside this file
(recipes_points.py, recipes_images.py) and are tuned by the quality study; this module only picks and
applies them: defaults < recipe < every field the person set. A preset, a config file, an architecture
other than the recipe's, or `recipe=""` means no recipe; the run's `recipe` field records which one applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from ..data.base import DataSpec
from ..errors import ConfigError
from ..models import arch_problem
from ..models.dcgan import dcgan_supports
from ..registry import Registry
from .recipes_images import IMAGES_28, IMAGES_32, IMAGES_ANY, IMAGES_SMALL
from .recipes_points import POINTS
from .schema import RunConfig

SMALL_IMAGE_PX = 16  # images this size or smaller get the small-image MLP recipe


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str  # the data kind it is for: "points" | "images"
    values: dict[str, Any]  # RunConfig fields over the defaults
    description: str  # the data it is for, as a person reads it ("28x28 grey images")

    @property
    def arch(self) -> str:
        return self.values.get("arch", RunConfig.arch)

    def summary(self) -> str:
        """What the recipe sets, from its values (so it stays true when the values are retuned)."""
        v = {**RunConfig().to_dict(), **self.values}
        parts = [_dcgan(v) if v["arch"] == "dcgan" else f"{v['arch'].upper()} {_widths(v)}", v["loss"].upper(),
                 f"{v['steps']:,} steps", f"batch {v['batch_size']}", f"{v['optimizer'].capitalize()} lr {_lr(v)}{_betas(v)}",
                 f"latent {v['latent_dim']}" + (f" with {v['latent_mixture']:,} islands" if v["latent_mixture"] else "")]
        if v["lr_schedule"] != "constant":
            parts.append(f"{v['lr_schedule']} lr decay")
        if v["standardize"]:
            parts.append("standardised points")
        if v["r1_weight"]:
            r1 = f"R1 {v['r1_weight']:g}"
            if v["r1_schedule"] != "constant":
                r1 += f" falling ({v['r1_schedule']}) to {v['r1_weight'] * v['r1_end_factor']:g}"
            parts.append(r1 + (f" every {v['r1_every']} steps" if v["r1_every"] > 1 else ""))
        if v["ema"]:
            parts.append(f"EMA {v['ema']:g}")
        if v["reuse_fakes"]:
            parts.append("G's update reuses D's fakes")
        if v["g_topk"] < 1:
            parts.append(f"G learns from the top {v['g_topk']:.0%} of its fakes at the end (top-k)")
        return ", ".join(parts)


def _dcgan(v: dict) -> str:
    n = v["coarse_layers"]
    return "DCGAN" + (f" with {n} more 3x3 conv layer{'s' * (n > 1)} at the coarsest size" if n else "")


def _widths(v: dict) -> str:
    g, d = (" x ".join(map(str, v[k])) for k in ("g_hidden", "d_hidden"))
    return f"(G {g}, D {d})"


def _betas(v: dict) -> str:
    """Adam's betas when they are not RunConfig's (an lr means little without them), else nothing."""
    if v["optimizer"] != "adam" or (v["beta1"], v["beta2"]) == (RunConfig.beta1, RunConfig.beta2):
        return ""
    return f" betas ({v['beta1']:g}, {v['beta2']:g})"


def _lr(v: dict) -> str:
    return f"{v['lr_g']:g}" if v["lr_g"] == v["lr_d"] else f"G {v['lr_g']:g} / D {v['lr_d']:g}"


# (spec -> does this recipe's data description fit it), tried in order: the first that fits and whose
# architecture accepts the spec is the recipe
RECIPES: Registry[Recipe] = Registry("recipe")
_FITS: dict[str, Callable[[DataSpec], bool]] = {}


def _recipe(name: str, kind: str, values: dict[str, Any], description: str, fits: Callable[[DataSpec], bool]) -> None:
    RECIPES.add(name, Recipe(name, kind, dict(values), description), description)
    _FITS[name] = fits


def _image(spec: DataSpec) -> tuple[int, int, int]:
    return tuple(spec.shape) if spec.kind == "images" and len(spec.shape) == 3 else (0, 0, 0)


_recipe("points", "points", POINTS, "point data of any dimension", lambda s: s.kind == "points")
_recipe("images-small", "images", IMAGES_SMALL, f"small images (at most {SMALL_IMAGE_PX}x{SMALL_IMAGE_PX})",
        lambda s: s.kind == "images" and max(_image(s)[1:]) <= SMALL_IMAGE_PX)
_recipe("images-28", "images", IMAGES_28, "28x28 grey images", lambda s: _image(s) == (1, 28, 28))
_recipe("images-32", "images", IMAGES_32, "32x32 colour images", lambda s: _image(s) == (3, 32, 32))
_recipe("images-any", "images", IMAGES_ANY, "square images of a size the DCGAN makes",
        lambda s: _image(s)[1] == _image(s)[2] and dcgan_supports(_image(s)[1]))
FALLBACK = {"images": "images-small"}  # images no recipe above fits (not square, or a size the DCGAN cannot make): the MLP


def recipe_for(spec: DataSpec) -> Recipe:
    """The recipe for data of this spec: the first whose data fits and whose architecture accepts it."""
    for entry in RECIPES:
        if _FITS[entry.name](spec) and arch_problem(entry.obj.arch, spec) is None:
            return entry.obj
    fallback = RECIPES.get(FALLBACK.get(spec.kind, "points"))
    if arch_problem(fallback.arch, spec) is not None:
        raise ConfigError(f"no recipe fits {spec.kind} of shape {tuple(spec.shape)}; choose --arch yourself")
    return fallback


def chosen_recipe(given: dict[str, Any], spec: DataSpec) -> Optional[Recipe]:
    """The recipe these explicit fields leave room for, or None: `recipe` names one ("" = none), a preset or an
    architecture other than the recipe's means the person chose their own."""
    if "recipe" in given:
        name = given["recipe"]
        if not name:
            return None
        if name not in RECIPES:
            raise ConfigError(f"recipe: unknown recipe {name!r}; choose one of: {', '.join(RECIPES.names())}, "
                              "or \"\" for none")
        recipe = RECIPES.get(name)
    else:
        recipe = recipe_for(spec)
    if given.get("preset") or ("arch" in given and given["arch"] != recipe.arch):
        return None
    return recipe


def apply_recipe(given: dict[str, Any], spec: DataSpec) -> RunConfig:
    """defaults < the recipe for `spec` < `given` (only the fields the person set, dataset included)."""
    recipe = chosen_recipe(given, spec)
    values = recipe.values if recipe is not None else {}
    return RunConfig.from_dict({**values, **given, "recipe": recipe.name if recipe is not None else ""})


def recipe_note(recipe: Recipe) -> str:
    """One sentence saying which recipe applied and how to choose your own (the CLI prints it)."""
    return (f"recipe {recipe.name} for {recipe.description}: {recipe.summary()}; the fields you set win "
            f"(give --preset, --config or an --arch other than {recipe.arch} to choose your own, or --set recipe=)")
