"""Real recorded voices shipped in Debian bookworm packages, each with the credit that names them,
and the means to get them out: `apt-get download`, then the .deb read in Python.

Used by `experiments/real_speech/corpus.py`. A speaker's gender is what the credit says (a named person, a
folder named `<lang>_<COUNTRY>_<f|m>_<name>`), never what the voice sounds like; the median f0 the
builder reports is only a check on it. Each entry is one person: a voice heard in two packages
keeps one id, or one of them is left out, so that the folds stay speaker-disjoint.

Packages looked at and left out (bookworm, 2026-11):
  - asterisk-core-sounds-es-wav: `es_MX_f_Allison`, the same Allison Smith as the English prompts
    (its copyright: "Files: * ... Allison Smith").
  - asterisk-core-sounds-*-{gsm,g722}, asterisk-prompt-it-menardi-{gsm,alaw}: the same recordings
    in other codecs.
  - klettres-data es, nds, pt_BR ("Father and ... 09 years (Son)"): two credited voices per
    language, files not attributed; ar: "my little nephew's voice" (a child); en_GB, hu, lt, ml,
    nb, ru, tn, uk: no credit.
  - tuxpaint-stamps-default fr (Jacques Chion and PaulK), ro ("Tabbytha", no gender), lt, nl, ml
    (few files, numbers from several voices); every `symbols/` folder (numbers from Schoolsplay
    and from a contributor's son, recorded by other people than the language's credited voice).
  - ktuberling-data, fillets-ng-data(-cs,-nl), hedgewars-data, warzone2100-data, megaglest-data
    ("my family, some friends and neighbors"), openarena-data: no voice credited per speaker, or
    handles without a gender; game voices are acted, many radio- or pitch-processed.
  - gcin-voice: single Mandarin syllables; part of it a singing-synthesiser voicebank.
  - gcompris-qt-data (voices not packaged), tuxtype-data, scratch, warmux-data, kanagram,
    blinken, sound-icons: effects, singing or no speech.
  - festvox-*, espeak-ng-data, open-jtalk: speech synthesis.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Speaker:
    """One credited voice and where its recordings sit inside a package.

    Args:
        id: speaker id, written as `client_id`.
        gender: "female" or "male", as the credit states it.
        language: locale written to the table (BCP 47).
        package: the Debian bookworm package holding the recordings.
        include: globs of paths inside the package (`*` stays in one folder, `**/` spans folders).
        credit: the words that name the voice.
        source: where they are: file inside the package, line.
        exclude: globs of matching paths that are not speech (tones, music).
    """

    id: str
    gender: str
    language: str
    package: str
    include: tuple[str, ...]
    credit: str
    source: str
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.gender not in ("female", "male"):
            raise ValueError(f"speaker {self.id}: gender must be 'female' or 'male', not {self.gender!r}")

    def wants(self, path: str) -> bool:
        """Whether `path` (inside the package, no leading `./` or `/`) is one of this voice's clips."""
        return any(_regex(g).fullmatch(path) for g in self.include) and not any(
            _regex(g).fullmatch(path) for g in self.exclude
        )


def _regex(glob: str) -> re.Pattern:
    """A glob as a regular expression: `**/` any folders (or none), `*` and `?` within one folder."""
    parts = re.split(r"(\*\*/|\*|\?)", glob)
    table = {"**/": "(?:.*/)?", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts))


# Asterisk prompts: the sentences at the top of each voice's folder (digits/ and letters/ hold
# single words); tones, the beeps and the monkeys of the "tt-monkeys" demo are not speech.
_ASTERISK_NOT_SPEECH = ("**/beep*", "**/*-2tone.*", "**/tt-monkeys.*")
_COPYRIGHT = "usr/share/doc/{}/copyright"
_KLETTRES = "usr/share/doc/HTML/en/klettres/index.docbook"
_TUXPAINT = "usr/share/doc/tuxpaint-stamps-default/changelog.gz"


def _asterisk(id: str, gender: str, language: str, package: str, folder: str, credit: str, source: str,
              ext: str = "wav") -> Speaker:
    return Speaker(id, gender, language, package, (f"usr/share/asterisk/sounds/{folder}/*.{ext}",),
                   credit, source, _ASTERISK_NOT_SPEECH)


def _klettres(id: str, gender: str, language: str, line: int, credit: str) -> Speaker:
    return Speaker(id, gender, language, "klettres-data", (f"usr/share/klettres/{language}/**/*.ogg",),
                   credit, f"{_KLETTRES}:{line}")


def _tuxpaint(id: str, gender: str, language: str, line: int, credit: str) -> Speaker:
    return Speaker(id, gender, language, "tuxpaint-stamps-default",
                   (f"usr/share/tuxpaint/stamps/**/*_desc_{language}.ogg",), credit, f"{_TUXPAINT}:{line}",
                   ("usr/share/tuxpaint/stamps/symbols/**/*",))


SPEAKERS: tuple[Speaker, ...] = (
    # Telephone prompts, 8 kHz 16-bit WAV (the two GSM packages decode to 8 kHz too).
    _asterisk("allison_smith", "female", "en-US", "asterisk-core-sounds-en-wav", "en_US_f_Allison",
              "Recorded by: Allison Smith; folder en_US_f_Allison",
              _COPYRIGHT.format("asterisk-core-sounds-en-wav") + ":9-10"),
    _asterisk("june_wallack", "female", "fr-CA", "asterisk-core-sounds-fr-wav", "fr_CA_f_June",
              "Recorded by: June Wallack; folder fr_CA_f_June",
              _COPYRIGHT.format("asterisk-core-sounds-fr-wav") + ":21-22"),
    # A high voice for a man (median f0 near 180 Hz); the credit and the folder agree on "m".
    _asterisk("carlo_flora", "male", "it-IT", "asterisk-core-sounds-it-wav", "it_IT_m_Carlo",
              "Recorded by: Carlo Flora (http://www.carloflora.com); folder it_IT_m_Carlo",
              _COPYRIGHT.format("asterisk-core-sounds-it-wav") + ":45-46"),
    # Maxim Topal provided the recordings (ivrvoice.ru, a studio); the voice is the folder's "f".
    _asterisk("ivrvoice_ru", "female", "ru-RU", "asterisk-core-sounds-ru-wav", "ru_RU_f_IvrvoiceRU",
              "Provided by: Maxim Topal, http://www.ivrvoice.ru; folder ru_RU_f_IvrvoiceRU",
              _COPYRIGHT.format("asterisk-core-sounds-ru-wav") + ":37"),
    _asterisk("paola_dal_zot", "female", "it-IT", "asterisk-prompt-it-menardi-wav", "it_IT_f_Menardi",
              "Marco Menardi e Paola Dal Zot ... fatti da me e mia moglie; folder it_IT_f_Menardi",
              _COPYRIGHT.format("asterisk-prompt-it-menardi-wav") + ":13,19"),
    _asterisk("armelle_desjardins", "female", "fr-FR", "asterisk-prompt-fr-armelle", "fr",
              "Voice actor: Armelle Desjardins", _COPYRIGHT.format("asterisk-prompt-fr-armelle") + ":8",
              ext="gsm"),
    # Female by the first name only; the README does not say more.
    _asterisk("july_jimenez", "female", "es-CO", "asterisk-prompt-es-co", "es",
              "Sonidos grabados por Avatar Ltda. con la voz de July E. Jiménez",
              "usr/share/doc/asterisk-prompt-es-co/LEEME:8", ext="gsm"),
    # KLettres letters and syllables, 44.1 kHz Ogg (the Danish set at several rates). Credits from
    # the handbook of 2001-2007. Dutch, German and Italian are spoken high (median f0 above 200 Hz):
    # kept as credited; `--leave-out` measures what they weigh.
    _klettres("eva_mikulcikova", "female", "cs", 615, "Czech sounds: Eva Mikulčíková"),
    _klettres("erik_kjaer_pedersen", "male", "da", 617, "Danish sounds: Erik Kjaer Pedersen"),
    _klettres("geert_stams", "male", "nl", 619, "Dutch sounds: Geert Stams"),
    _klettres("robert_wadley", "male", "en", 621, "English sounds: Robert Wadley"),
    _klettres("ludovic_grossard", "male", "fr", 623, "French sounds: Ludovic Grossard"),
    _klettres("helmut_kriege", "male", "de", 625, "German sounds: Helmut Kriege"),
    _klettres("assaf_gorgon", "male", "he", 627, "Hebrew sounds: Assaf Gorgon"),
    _klettres("pietro_pasotti", "male", "it", 629, "Italian sounds: Pietro Pasotti"),
    # Tux Paint stamp names, spoken by translators; Google Code-In contributors were 13-17 years old.
    _tuxpaint("kseniya_buraya", "female", "be", 590, "Belarusian ... Descriptive sounds by Kseniya Buraya"),
    _tuxpaint("krasimir_petkov", "male", "bg", 541, "Bulgarian ... Descriptive sounds Krasimir Petkov"),
    _tuxpaint("joe_dalton", "male", "da", 599, "Danish descriptive sounds: Joe Dalton"),
    _tuxpaint("kiriaki_serafeim", "female", "el", 609, "Greek descriptive sounds: Kiriaki SERAFEIM"),
    _tuxpaint("estefania_ortiz", "female", "es", 640, "Spanish ... Descriptive sounds Estefanía Ortiz"),
    _tuxpaint("edwin_veber", "male", "ru", 673, "Descriptive sounds by GCI students ... Rusian: Edwin Veber"),
    # "Catalan spoken translations of all (almost all?) stamps"; later Catalan stamps are assumed his.
    _tuxpaint("pere_pujal", "male", "ca", 1670, "Catalan spoken translations of all stamps: Pere Pujal Carabantes"),
)


def fetch_debs(packages: Iterable[str], cache: Path) -> dict[str, Path]:
    """The .deb of each package, downloaded with `apt-get download` into `cache` unless already there.

    Args:
        packages: Debian package names.
        cache: folder of .deb files (`<package>_<version>_<arch>.deb`).
    """
    cache.mkdir(parents=True, exist_ok=True)
    packages = sorted(set(packages))
    missing = [p for p in packages if not any(cache.glob(f"{p}_*.deb"))]
    if missing and shutil.which("apt-get") is None:
        sys.exit(f"apt-get is not available: download {' '.join(missing)} (Debian bookworm .debs) by hand "
                 f"and put the .deb files in {cache}")
    if missing:
        done = subprocess.run(["apt-get", "download", *missing], cwd=cache, capture_output=True, text=True)
        if done.returncode:
            reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
            sys.exit(f"apt-get download {' '.join(missing)} failed ({reason}); fetch those .debs by hand into {cache}")
    return {p: sorted(cache.glob(f"{p}_*.deb"))[-1] for p in packages}


def extract(deb: Path, wanted: Callable[[str], bool], dest: Path) -> list[str]:
    """Copy the package's regular files whose path `wanted` accepts to `dest/<path>`; their sorted paths.

    Links are skipped: a package that links one recording under two names holds it once.
    """
    paths = []
    with _data_tar(deb) as tar:
        for member in tar:
            path = member.name.removeprefix("./").lstrip("/")
            if member.isfile() and wanted(path):
                (dest / path).parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, (dest / path).open("wb") as out:
                    shutil.copyfileobj(src, out)
                paths.append(path)
    return sorted(paths)


def _ar_member(deb: Path, prefix: str) -> tuple[str, int, int]:
    """Name, offset and size of the first member of the `ar` archive `deb` whose name starts with prefix."""
    with deb.open("rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{deb} is not a Debian package (no ar archive header)")
        while len(header := f.read(60)) == 60:
            name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
            if name.startswith(prefix):
                return name, f.tell(), size
            f.seek(size + size % 2, io.SEEK_CUR)  # members start on even offsets
    raise ValueError(f"{deb} has no {prefix}* member")


class _Slice(io.RawIOBase):
    """The next `size` bytes of an open file, as a stream that ends there."""

    def __init__(self, file: io.BufferedReader, size: int) -> None:
        self.file, self.left = file, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        n = self.file.readinto(memoryview(buffer)[: min(len(buffer), self.left)])
        self.left -= n
        return n


@contextmanager
def _data_tar(deb: Path) -> Iterator[tarfile.TarFile]:
    """The package's `data.tar.{xz,gz,bz2,zst}`, streamed; zstd needs `zstandard` or `dpkg-deb`."""
    name, offset, size = _ar_member(deb, "data.tar")
    compression = name.removeprefix("data.tar").lstrip(".")
    if compression == "zst":
        try:
            import zstandard
        except ImportError:
            with _dpkg_tar(deb) as tar:
                yield tar
            return
    with deb.open("rb") as f:
        f.seek(offset)
        stream = io.BufferedReader(_Slice(f, size))
        if compression == "zst":
            stream, compression = zstandard.ZstdDecompressor().stream_reader(stream), ""
        with tarfile.open(fileobj=stream, mode=f"r|{compression}") as tar:
            yield tar


@contextmanager
def _dpkg_tar(deb: Path) -> Iterator[tarfile.TarFile]:
    """The package's files as one uncompressed tar stream from `dpkg-deb --fsys-tarfile`."""
    if shutil.which("dpkg-deb") is None:
        sys.exit(f"{deb} is zstd-compressed: install the zstandard module or dpkg-deb to read it")
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            yield tar
