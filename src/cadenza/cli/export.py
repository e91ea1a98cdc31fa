"""``cadenza export``: a MIDI file as sheet music (MusicXML and/or SVG pages)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import typer

from cadenza.cli.app import app, console, friendly_errors
from cadenza.cli.options import output_path
from cadenza.errors import ConfigError


def svg_names(stem: str, pages: int) -> list[str]:
    """File names of ``pages`` SVG pages: ``STEM.svg`` for one, ``STEM-1.svg``... for more."""
    if pages == 1:
        return [f"{stem}.svg"]
    return [f"{stem}-{page}.svg" for page in range(1, pages + 1)]


def check_targets(paths: list[Path], overwrite: bool) -> None:
    """Refuse, before anything is written, a target that is a folder or that exists."""
    for path in paths:
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; give another name")
        if path.exists() and not overwrite:
            raise ConfigError(f"{path} already exists; pass --overwrite or choose another --out")


@app.command("export")
@friendly_errors
def export_command(
    midi_file: Path = typer.Argument(..., help="MIDI file to write as sheet music."),
    musicxml: bool = typer.Option(
        False, "--musicxml", help="Write FILE.musicxml (the default when no format is given)."
    ),
    svg: bool = typer.Option(
        False, "--svg", help="Write FILE.svg, or FILE-1.svg, FILE-2.svg... for more pages."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder to write into (default: beside FILE)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
) -> None:
    r"""Write a MIDI file as a piano score: MusicXML and/or engraved SVG pages.

    Notes are quantised to 16ths and split between the hands at middle C; the key signature is the one whose scale covers the most of the notes. Pieces of up to 8,192 quarter notes (2,048 bars of 4/4) and 50,000 notes. Needs music21 and verovio: pip install 'cadenza\[notation]'.
    """  # noqa: E501  (one paragraph: the help text is wrapped by the terminal's width)
    from cadenza.fileio import FileSet
    from cadenza.midi import read_midi
    from cadenza.notation import check_notation_size, musicxml_bytes, svg_pages

    if not (musicxml or svg):
        musicxml = True
    stem = midi_file.stem
    xml_path = output_path(out, midi_file, f"{stem}.musicxml")  # --out as on every command
    if musicxml:  # fail before the work when the obvious name is taken
        check_targets([xml_path], overwrite)
    score = read_midi(midi_file)
    check_notation_size(score, midi_file)  # before the work, naming the file
    xml = musicxml_bytes(score)
    outputs: list[tuple[Path, bytes]] = []
    if musicxml:
        outputs.append((xml_path, xml))
    if svg:
        pages = svg_pages(xml)
        names = svg_names(stem, len(pages))
        outputs.extend((xml_path.with_name(name), page.encode())
                       for name, page in zip(names, pages, strict=True))
    check_targets([path for path, _ in outputs], overwrite)
    with FileSet(ConfigError) as files:  # all or none: a full disk leaves what was there
        for path, data in outputs:
            files.add(path, partial(bytes, data))
        for path in files.commit():
            console.print(f"wrote {path}", highlight=False, soft_wrap=True)
