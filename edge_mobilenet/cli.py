"""The `edgemb` command line. Commands parse arguments, call the library and print."""
import json
import sys

import click

from .errors import EdgembError
from .models import ARCHS

ALPHA = click.FloatRange(0.05, 4.0, min_open=False)
RESOLUTION = click.IntRange(32, 2048)
NUM_CLASSES = click.IntRange(2, 100_000)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edge-mobilenet")
def cli():
    """edgemb: train, quantize and deploy MobileNet image classifiers to phones and boards."""


@cli.command()
@click.option("--arch", type=click.Choice(ARCHS), default="mobilenet_v2", show_default=True)
@click.option("--alpha", type=ALPHA, default=1.0, show_default=True, help="Width multiplier.")
@click.option("--resolution", type=RESOLUTION, default=224, show_default=True,
              help="Input height and width.")
@click.option("--num-classes", type=NUM_CLASSES, default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def profile(arch, alpha, resolution, num_classes, as_json):
    """Per-layer MACs and parameters, and depthwise separable vs standard conv cost."""
    from .cost import profile as run_profile
    from .report_text import print_profile

    result = run_profile(arch, alpha, resolution, num_classes)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_profile(result)


def main():
    """Entry point: user mistakes become one `Error:` line and a non-zero exit code."""
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        code = 130
    except click.ClickException as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        code = e.exit_code
    except OSError as e:  # disk full, permissions...: the user's machine, not our bug
        click.echo(f"Error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
