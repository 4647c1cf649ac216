"""A corpus of hostile, damaged and impossible inputs (issue 11, input side).

Each case is a small folder of files plus a command line; every one must exit 2 with one
message, no traceback, quickly and in little memory, and no message may contain text of a
file other than the one named on the command line (``MARKER`` is planted in the others).
Large files are generated when the case is written, never stored.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "JIEFANG-SECRET-MARKER-7f3a9"
BASE = "name: base\nhorizon_hours: 1\nreplications: 1\n"

#: Class labels, as numbered in issue 11.
LEAK, BOMB, BAD_INPUT, UNBOUNDED, IMPOSSIBLE, FRICTION = (
    "1 file contents in messages",
    "2 alias bombs and oversized files",
    "5 special files, bad paths, bad values, bad arguments",
    "6 unbounded work",
    "7 impossible scenarios",
    "13 small frictions",
)

# Special files: written as what they name, not as text.
FIFO, SOCKET, DIRECTORY = object(), object(), object()


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Sparse:
    size: int  # a file of this many zero bytes, without writing them


Content = str | bytes | object | Callable[[], bytes]


@dataclass
class Case:
    cls: str
    name: str
    files: dict[str, Content]
    argv: list[str]  # "{d}" is the case's folder
    secret_files: tuple[str, ...] = ()  # files whose text must never appear
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.cls.split()[0]}-{self.name}"


def run_argv(scenario: str = "s.yaml", *extra: str) -> list[str]:
    return ["run", f"{{d}}/{scenario}", "--out", "{d}/out", "-q", *extra]


def sweep_argv(sweep: str = "w.yaml", *extra: str) -> list[str]:
    return ["sweep", f"{{d}}/{sweep}", "--out", "{d}/out", "-q", *extra]


def sweep_over(extra: str, base: str = "base.yaml") -> str:
    return f"name: w\nbase: {base}\nreplications: 1\n{extra}"


def materialise(case: Case, folder: Path) -> None:
    for rel, content in case.files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is FIFO:
            os.mkfifo(path)
        elif content is SOCKET:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path))
            sock.close()
        elif content is DIRECTORY:
            path.mkdir()
        elif isinstance(content, Symlink):
            os.symlink(content.target.format(d=folder), path)
        elif isinstance(content, Sparse):
            with open(path, "wb") as f:
                f.truncate(content.size)
        elif callable(content):
            path.write_bytes(content())
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


# ---------------------------------------------------------------------------- class 1
SECRET_TEXTS = [
    f"root:$6${MARKER}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    f"{MARKER}: 1\n",
    f"name: {MARKER}\npolise: 1\n",
    f"horizon_hours: {MARKER}\n",
    f"police: {{units: {MARKER}}}\n",
    f"police: {{units: 2}}\nincidents: {{kinds: {{{MARKER}: {{share: 1, police_units: 9}}}}}}\n",
    f"volunteers: {{on_duty_share: [{MARKER}]}}\n",
    f"police: {{call_handling: {{dist: {MARKER}}}}}\n",
    f"city: {{land_use_shares: {{{MARKER}: 0.1}}}}\n",
    f"{MARKER}: [unclosed\n",
    f"a: *{MARKER}\n",
    f"a: 1\n{MARKER}: 2\n{MARKER}: 3\n",
    f"a: !!python/name:{MARKER} x\n",
    f'a: "\\q{MARKER}"\n',
    f"- {MARKER}\n",
    f"{MARKER}\n",
    b"\xff\xfe" + MARKER.encode(),
    f"name: x\n\t{MARKER}: tab\n",
    f"extends: {MARKER}.yaml\n",
    f"city: {{map_file: {MARKER}.txt}}\n",
    f"? [{MARKER}, b]\n: 1\n",
    f"description: {MARKER}\nhorizon_hours: -1\n",
    f"sources: {{{MARKER}: 3}}\n",
    f"meus: {{opening_hours: {{school: [{MARKER}]}}}}\n",
    f"incidents: {{kinds: {{{MARKER}: {{share: 1e308}}, b: {{share: 1e308}}}}}}\n",
    f'city: {{map_file: "a\\0{MARKER}"}}\n',
    f"extends: !!binary {MARKER}\n",
    f"{MARKER * 300}: 1\n",
    f"police: {{station_cells: [[{MARKER}, 1]]}}\n",
    f"incidents: {{kinds: {{{MARKER}: {{share: 1, self_rescue: false, volunteers: false, "
    "meu_teams: 0, police_units: 0}}}}\n",
    f'name: "{MARKER}\\x1b[2J"\nhorizon_hours: 0\n',
    f"&{MARKER} a: 1\n",
    f"%YAML 1.1\n%TAG ! tag:{MARKER},2000:\n---\na: !x 1\n",
]


def leak_cases() -> list[Case]:
    cases = []
    for i, text in enumerate(SECRET_TEXTS):
        secret = {"other.yaml": text}
        modes = {
            "extends": ({"s.yaml": "extends: other.yaml\nname: s\n", **secret}, run_argv()),
            "extends2": (
                {
                    "s.yaml": "extends: mid.yaml\nname: s\n",
                    "mid.yaml": "extends: other.yaml\n",
                    **secret,
                },
                run_argv(),
            ),
            "sweep-base": ({"w.yaml": sweep_over("", "other.yaml"), **secret}, sweep_argv()),
            "sweep-base-extends": (
                {
                    "w.yaml": sweep_over("", "s.yaml"),
                    "s.yaml": "extends: other.yaml\nname: s\n",
                    **secret,
                },
                sweep_argv(),
            ),
            "map": ({"s.yaml": "name: s\ncity: {map_file: other.yaml}\n", **secret}, run_argv()),
            "map-in-base": (
                {
                    "s.yaml": "extends: b.yaml\nname: s\n",
                    "b.yaml": "name: b\ncity: {map_file: other.yaml}\n",
                    **secret,
                },
                run_argv(),
            ),
            "view": (
                {"s.yaml": "extends: other.yaml\nname: s\n", **secret},
                ["view", "{d}/s.yaml", "--port", "1"],
            ),
        }
        for mode, (files, argv) in modes.items():
            cases.append(Case(LEAK, f"{mode}-{i}", files, argv, ("other.yaml",)))
    return cases


# ---------------------------------------------------------------------------- class 2
def laughs(branching: int, depth: int, prefix: str = "") -> str:
    lines = [f'{prefix}l0: &l0 ["lol"]']
    for d in range(1, depth + 1):
        refs = ", ".join([f"*l{d - 1}"] * branching)
        lines.append(f"{prefix}l{d}: &l{d} [{refs}]")
    return "\n".join(lines) + "\n"


def bomb_cases() -> list[Case]:
    cases = []
    shapes = [(2, 20), (3, 13), (5, 9), (9, 9), (16, 6), (60, 4), (500, 3), (3, 40)]
    for b, d in shapes:
        bomb = laughs(b, d)
        nested = "name: x\nsources:\n" + laughs(b, d, "  ")
        merge = "a0: &a0 {k0: 1}\n" + "".join(
            f"a{i}: &a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 2)}], k{i}: 1}}\n" for i in range(1, 3)
        )
        cases += [
            Case(BOMB, f"laughs-{b}x{d}", {"s.yaml": "name: x\n" + bomb}, run_argv()),
            Case(BOMB, f"laughs-nested-{b}x{d}", {"s.yaml": nested}, run_argv()),
            Case(
                BOMB,
                f"laughs-extends-{b}x{d}",
                {"s.yaml": "extends: o.yaml\nname: x\n", "o.yaml": bomb},
                run_argv(),
            ),
            Case(
                BOMB,
                f"laughs-sweep-{b}x{d}",
                {"w.yaml": sweep_over(bomb), "base.yaml": BASE},
                sweep_argv(),
            ),
            Case(
                BOMB, f"laughs-view-{b}x{d}", {"s.yaml": "name: x\n" + bomb}, ["view", "{d}/s.yaml"]
            ),
        ]
        if b <= 3:
            cases.append(Case(BOMB, f"merge-{b}x{d}", {"s.yaml": "name: x\n" + merge}, run_argv()))
    recursive = [
        "a: &a [*a]\n",
        "a: &a {b: *a}\n",
        "a: &a {<<: *a}\n",
        "a: &a [[[*a]]]\n",
        "police: &p {units: 1, x: *p}\nname: x\n",
    ]
    for i, text in enumerate(recursive):
        cases += [
            Case(BOMB, f"recursive-{i}", {"s.yaml": text}, run_argv()),
            Case(BOMB, f"recursive-sweep-{i}", {"w.yaml": text}, sweep_argv()),
            Case(
                BOMB,
                f"recursive-extends-{i}",
                {"s.yaml": "extends: o.yaml\nname: x\n", "o.yaml": text},
                run_argv(),
            ),
        ]
    big = {
        "comments-2MiB": lambda: b"name: x\n" + b"# padding\n" * 210_000,
        "list-1.5MiB": lambda: b"name: x\nsources: [" + b"1," * 780_000 + b"1]\n",
        "one-over-1MiB": lambda: b"name: x\n#" + b"x" * (1 << 20) + b"\n",
        "sparse-1GiB": Sparse(1 << 30),
        "long-line-4MiB": lambda: b"name: " + b"x" * (4 << 20) + b"\n",
    }
    for name, content in big.items():
        cases += [
            Case(BOMB, f"big-{name}", {"s.yaml": content}, run_argv()),
            Case(BOMB, f"big-sweep-{name}", {"w.yaml": content}, sweep_argv()),
            Case(
                BOMB,
                f"big-extends-{name}",
                {"s.yaml": "extends: o.yaml\nname: x\n", "o.yaml": content},
                run_argv(),
            ),
            Case(
                BOMB,
                f"big-base-{name}",
                {"w.yaml": sweep_over("", "o.yaml"), "o.yaml": content},
                sweep_argv(),
            ),
        ]
    cases.append(
        Case(
            BOMB,
            "big-map-18MiB",
            {"s.yaml": "name: s\ncity: {map_file: m.txt}\n", "m.txt": Sparse(18 << 20)},
            run_argv(),
        )
    )
    cases.append(
        Case(
            BOMB,
            "map-5000-columns",
            {
                "s.yaml": "name: s\ncity: {map_file: m.txt}\n",
                "m.txt": lambda: (b"." * 5000 + b"\n") * 3,
            },
            run_argv(),
        )
    )
    return cases


# ---------------------------------------------------------------------------- class 5
SPECIAL = {
    "dev-zero": Symlink("/dev/zero"),
    "dev-null": Symlink("/dev/null"),
    "dev-urandom": Symlink("/dev/urandom"),
    "fifo": FIFO,
    "socket": SOCKET,
    "directory": DIRECTORY,
    "symlink-loop": Symlink("{d}/t.yaml"),
    "missing": None,
}
BAD_PATHS = {
    "nul": "a\\0b.yaml",
    "long-path": "a/" * 2600 + "x.yaml",
    "long-name": "n" * 300 + ".yaml",
    "empty": "",
    "dev-zero-abs": "/dev/zero",
    "proc-self-mem": "/proc/self/mem",
    "dev-stdin": "/dev/stdin",
}


def input_cases() -> list[Case]:
    cases = []
    for name, special in SPECIAL.items():
        files = {} if special is None else {"t.yaml": special}
        cases += [
            Case(
                BAD_INPUT,
                f"extends-{name}",
                {"s.yaml": "extends: t.yaml\nname: s\n", **files},
                run_argv(),
            ),
            Case(
                BAD_INPUT,
                f"map-{name}",
                {"s.yaml": "name: s\ncity: {map_file: t.yaml}\n", **files},
                run_argv(),
            ),
            Case(
                BAD_INPUT,
                f"base-{name}",
                {"w.yaml": sweep_over("", "t.yaml"), **files},
                sweep_argv(),
            ),
            Case(BAD_INPUT, f"run-{name}", files, run_argv("t.yaml")),
            Case(BAD_INPUT, f"sweep-{name}", files, sweep_argv("t.yaml")),
            Case(BAD_INPUT, f"view-{name}", files, ["view", "{d}/t.yaml"]),
        ]
    for name, text in BAD_PATHS.items():
        cases += [
            Case(
                BAD_INPUT,
                f"extends-path-{name}",
                {"s.yaml": f'extends: "{text}"\nname: s\n'},
                run_argv(),
            ),
            Case(
                BAD_INPUT,
                f"map-path-{name}",
                {"s.yaml": f'name: s\ncity: {{map_file: "{text}"}}\n'},
                run_argv(),
            ),
            Case(
                BAD_INPUT,
                f"base-path-{name}",
                {"w.yaml": sweep_over("", f'"{text}"')},
                sweep_argv(),
            ),
        ]
    for name, text in {
        "nul": "a\\0b",
        "long": "n" * 5000,
        "escape": "\\e[31mred",
        "newline": "a\\nb",
        "bell": "\\a",
        "bidi": "\\u202eabc",
    }.items():
        cases += [
            Case(BAD_INPUT, f"name-{name}", {"s.yaml": f'name: "{text}"\n'}, run_argv()),
            Case(
                BAD_INPUT,
                f"name-sweep-{name}",
                {"w.yaml": sweep_over(f'set: {{name: "{text}"}}\n'), "base.yaml": BASE},
                sweep_argv(),
            ),
        ]
    complex_keys = {
        "list-top": "name: x\n? [a, b]\n: 1\n",
        "map-top": "name: x\n? {a: 1}\n: 1\n",
        "list-nested": "name: x\npolice:\n  ? [units]\n  : 3\n",
        "flow": "name: x\n{[a]: 1}: 2\n",
        "alias-list": "name: x\nl: &l [1]\n*l : 2\n",
        "kinds": "name: x\nincidents: {kinds: {? [a]: {share: 1}}}\n",
    }
    for name, text in complex_keys.items():
        cases += [
            Case(BAD_INPUT, f"complex-key-{name}", {"s.yaml": text}, run_argv()),
            Case(BAD_INPUT, f"complex-key-view-{name}", {"s.yaml": text}, ["view", "{d}/s.yaml"]),
            Case(
                BAD_INPUT,
                f"complex-key-sweep-{name}",
                {"w.yaml": sweep_over("", "s.yaml"), "s.yaml": text},
                sweep_argv(),
            ),
        ]
    cases.append(
        Case(
            BAD_INPUT,
            "complex-key-in-sweep",
            {"w.yaml": sweep_over("grid: {? [a]: [1]}\n"), "base.yaml": BASE},
            sweep_argv(),
        )
    )
    values = {
        "all-water-map": ("city: {map_file: m.txt}", {"m.txt": "~~~\n~~~\n"}),
        "all-bridge-map": ("city: {map_file: m.txt}", {"m.txt": "===\n"}),
        "water-bridge-map": ("city: {map_file: m.txt}", {"m.txt": "~=~\n=~=\n"}),
        "comment-only-map": ("city: {map_file: m.txt}", {"m.txt": "# nothing\n"}),
        "ragged-map": ("city: {map_file: m.txt}", {"m.txt": "...\n..\n"}),
        "latin1-map": ("city: {map_file: m.txt}", {"m.txt": b"\xe9\xe9\n"}),
        "river-covers-all": ("city: {rivers: [{width_cells: 40}]}", {}),
        "two-rivers-cover-all": (
            "city: {height: 10, rivers: [{position: 0.25, width_cells: 6, bridges: 0}, "
            "{position: 0.75, width_cells: 6}]}",
            {},
        ),
        "vertical-river-covers-all": ("city: {rivers: [{axis: vertical, width_cells: 60}]}", {}),
        "meandering-river-covers-all": (
            "city: {rivers: [{width_cells: 45, meander_cells: 2}]}",
            {},
        ),
        "no-residents-volunteers": ("city: {population: 0}\nvolunteers: {count: 10}", {}),
        "no-residents-meus": ("city: {population: 0}\nmeus: {count: 3}", {}),
        "rate-1e300": ("incidents: {rate_per_day: 1e300}", {}),
        "rate-inf": ("incidents: {rate_per_day: .inf}", {}),
        "count-1e9": ("volunteers: {count: 1e9}", {}),
        "count-1e400": ("volunteers: {count: 1e400}", {}),
        "count-2.5e0": ("volunteers: {count: 2.5e0}", {}),
        "count-big-int": ("volunteers: {count: " + "9" * 400 + "}", {}),
        "width-1e9": ("city: {width: 1e9}", {}),
        "horizon-1e300": ("horizon_hours: 1e300", {}),
        "replications-1e9": ("replications: 1e9", {}),
        "nan-share": ("incidents: {kinds: {a: {share: .nan}}}", {}),
    }
    for name, (body, extra) in values.items():
        cases += [
            Case(BAD_INPUT, f"value-{name}", {"s.yaml": f"name: s\n{body}\n", **extra}, run_argv()),
            Case(
                BAD_INPUT,
                f"value-base-{name}",
                {"w.yaml": sweep_over("", "s.yaml"), "s.yaml": f"name: s\n{body}\n", **extra},
                sweep_argv(),
            ),
        ]
    bad_args = {
        "port-70000": ["view", "{d}/s.yaml", "--port", "70000"],
        "port-0": ["view", "{d}/s.yaml", "--port", "0"],
        "port-negative": ["view", "{d}/s.yaml", "--port", "-1"],
        "port-exponent": ["view", "{d}/s.yaml", "--port", "1e5"],
        "port-huge": ["view", "{d}/s.yaml", "--port", "9" * 5000],
        "replications-1e6": run_argv("s.yaml", "--replications", "1000000"),
        "replications-0": run_argv("s.yaml", "-r", "0"),
        "replications-text": run_argv("s.yaml", "-r", "many"),
        "replications-huge": run_argv("s.yaml", "-r", "9" * 5000),
        "seed-negative": run_argv("s.yaml", "--seed", "-1"),
        "seed-2**64": run_argv("s.yaml", "--seed", str(2**64)),
        "seed-text": run_argv("s.yaml", "--seed", "\x1b[2Jx"),
        "workers-0": sweep_argv("w.yaml", "--workers", "0"),
        "workers-1e6": sweep_argv("w.yaml", "--workers", "1000000"),
        "budget-nan": run_argv("s.yaml", "--budget-memory-gb", "nan"),
        "budget-inf": run_argv("s.yaml", "--budget-cpu-minutes", "inf"),
        "budget-negative": run_argv("s.yaml", "--budget-cpu-minutes", "-5"),
        "budget-zero": sweep_argv("w.yaml", "--budget-memory-gb", "0"),
        "budget-text": sweep_argv("w.yaml", "--budget-memory-gb", "lots"),
        "scenario-empty": ["run", "", "--out", "{d}/out"],
        "scenario-nul": ["run", "{d}/s\x00.yaml", "--out", "{d}/out"],
        "scenario-long": ["run", "{d}/" + "x" * 5000, "--out", "{d}/out"],
        "sweep-nul": ["sweep", "{d}/w\x00.yaml", "--out", "{d}/out"],
        "view-nul": ["view", "{d}/s\x00.yaml"],
    }
    for name, argv in bad_args.items():
        files = {
            "s.yaml": "name: s\nhorizon_hours: 1\n",
            "w.yaml": sweep_over(""),
            "base.yaml": BASE,
        }
        cases.append(Case(BAD_INPUT, f"arg-{name}", files, argv))
    cases.append(
        Case(
            BAD_INPUT,
            "budget-env-bad",
            {"s.yaml": "name: s\n"},
            run_argv(),
            env={"JIEFANG_BUDGET_MEMORY_GB": "-1"},
        )
    )
    return cases


# ---------------------------------------------------------------------------- class 6
def unbounded_cases() -> list[Case]:
    cases = []
    heavy = {
        "incidents.rate_per_day": ["1e9", "1e12", "1e15", "1e100", "1e300", "1.7e308"],
        "volunteers.count": ["1e8", "1e9", "1e12", "1e15", str(2**62)],
        "meus.count": ["1e8", "1e10", "1e15"],
        "police.units": ["1e8", "1e10", "1e15"],
        "police.grids": ["1e7", "1e8", "1e9"],
    }
    for key, values in heavy.items():
        section, leaf = key.split(".")
        for v in values:
            body = f"name: s\n{section}: {{{leaf}: {v}}}\n"
            cases += [
                Case(UNBOUNDED, f"{key}-{v}", {"s.yaml": body}, run_argv()),
                Case(
                    UNBOUNDED,
                    f"{key}-{v}-extends",
                    {"s.yaml": "extends: b.yaml\nname: s\n", "b.yaml": body},
                    run_argv(),
                ),
                Case(
                    UNBOUNDED,
                    f"{key}-{v}-sweep-set",
                    {"w.yaml": sweep_over(f"set: {{{key}: {v}}}\n"), "base.yaml": BASE},
                    sweep_argv(),
                ),
                Case(
                    UNBOUNDED,
                    f"{key}-{v}-sweep-grid",
                    {"w.yaml": sweep_over(f"grid: {{{key}: [1, {v}]}}\n"), "base.yaml": BASE},
                    sweep_argv(),
                ),
            ]
    span = "{from: 0, to: 99999, num: 100000}"
    grids = {
        "grid-1e15": f"grid: {{volunteers.count: {span}, meus.count: {span}, police.units: {span}}}",
        "grid-1e10": f"grid: {{volunteers.count: {span}, meus.count: {span}}}",
        "grid-1e10-step": "grid: {volunteers.count: {from: 0, to: 99999, step: 1}, "
        "police.units: {from: 1, to: 100000, step: 1}}",
        "lhs-1e5-x-grid-1e5": f"grid: {{meus.count: {span}}}\nlhs: {{samples: 100000, ranges: "
        "{volunteers.acceptance: {low: 0, high: 1}}}",
        "points-1e5-x-reps-1e5": "replications: 100000\nlhs: {samples: 100000, ranges: "
        "{volunteers.acceptance: {low: 0, high: 1}}}",
        "points-1e5": "lhs: {samples: 100000, ranges: {volunteers.acceptance: {low: 0, high: 1}}}",
        "reps-1e5-heavy": "replications: 100000\nset: {incidents.rate_per_day: 100000}",
    }
    for name, body in grids.items():
        text = sweep_over(body + "\n").replace("replications: 1\nreplications:", "replications:")
        for workers in ("1", "2"):
            cases.append(
                Case(
                    UNBOUNDED,
                    f"{name}-w{workers}",
                    {"w.yaml": text, "base.yaml": "name: base\n"},
                    sweep_argv("w.yaml", "--workers", workers),
                )
            )
    rivers = ", ".join(
        f"{{axis: {'horizontal' if i % 2 else 'vertical'}, position: {(i // 2 + 0.5) / 100:.3f}, "
        "width_cells: 1, bridges: 3}"
        for i in range(200)
    )
    big_rivers = ", ".join(
        f"{{position: {(i + 0.5) / 1000:.4f}, width_cells: 1, bridges: 100}}" for i in range(1000)
    )
    for name, body, extra in [
        (
            "200-rivers-tight-budget",
            f"city: {{width: 400, height: 400, rivers: [{rivers}]}}",
            ("--budget-cpu-minutes", "0.5"),
        ),
        (
            "1000-rivers-1e5-bridges",
            f"city: {{width: 4000, height: 4000, rivers: [{big_rivers}]}}",
            (),
        ),
        ("year-x-1e5-replications", "horizon_hours: 8760", ("-r", "100000")),
        (
            "city-scale-tight-memory",
            "city: {width: 4000, height: 4000}",
            ("--budget-memory-gb", "1"),
        ),
    ]:
        cases.append(
            Case(UNBOUNDED, name, {"s.yaml": f"name: s\n{body}\n"}, run_argv("s.yaml", *extra))
        )
    cases.append(
        Case(
            UNBOUNDED,
            "env-budget-tiny",
            {"s.yaml": "name: s\n"},
            run_argv(),
            env={"JIEFANG_BUDGET_CPU_MINUTES": "1e-9"},
        )
    )
    return cases


# ---------------------------------------------------------------------------- class 7
def impossible_cases() -> list[Case]:
    cases = []
    for units in (1, 2, 3, 4):
        for extra in (1, 2, 5):
            need = units + extra
            body = (
                f"name: s\npolice: {{units: {units}}}\n"
                f"incidents: {{kinds: {{a: {{share: 1}}, big: {{share: 1, police_units: {need}}}}}}}\n"
            )
            cases += [
                Case(IMPOSSIBLE, f"police-units-{units}-need-{need}", {"s.yaml": body}, run_argv()),
                Case(
                    IMPOSSIBLE,
                    f"police-units-{units}-need-{need}-sweep",
                    {
                        "w.yaml": sweep_over(
                            f"grid: {{police.units: [{need}, {units}]}}\n", "s.yaml"
                        ),
                        "s.yaml": body.replace(f"units: {units}", f"units: {need}"),
                    },
                    sweep_argv(),
                ),
            ]
    for i, shares in enumerate(
        [
            ("1e308", "1e308"),
            ("1.7e308", "1.7e308"),
            ("1e308", "1e308", "1e308"),
            ("1.7976931348623157e308", "1e300"),
        ]
    ):
        kinds = ", ".join(f"k{j}: {{share: {s}}}" for j, s in enumerate(shares))
        body = f"name: s\nincidents: {{kinds: {{{kinds}}}}}\n"
        cases += [
            Case(IMPOSSIBLE, f"shares-overflow-{i}", {"s.yaml": body}, run_argv()),
            Case(
                IMPOSSIBLE,
                f"shares-overflow-{i}-base",
                {"w.yaml": sweep_over("", "s.yaml"), "s.yaml": body},
                sweep_argv(),
            ),
        ]
    nobody = {
        "all-off": ("", "self_rescue: false, volunteers: false, meu_teams: 0, police_units: 0"),
        "no-volunteers": (
            "volunteers: {count: 0}",
            "self_rescue: false, meu_teams: 0, police_units: 0",
        ),
        "volunteers-refuse": (
            "volunteers: {count: 50, acceptance: 0}",
            "self_rescue: false, meu_teams: 0, police_units: 0",
        ),
        "volunteers-never-on-duty": (
            "volunteers: {count: 50, on_duty_share: 0}",
            "self_rescue: false, meu_teams: 0, police_units: 0",
        ),
        "volunteers-none-go": (
            "volunteers: {count: 50, max_responders: 0}",
            "self_rescue: false, meu_teams: 0, police_units: 0",
        ),
        "no-meus": ("meus: {count: 0}", "self_rescue: false, volunteers: false, police_units: 0"),
        "meus-cover-nothing": (
            "meus: {count: 3, coverage_radius_m: 0}",
            "self_rescue: false, volunteers: false, police_units: 0",
        ),
        "no-police": ("police: {units: 0}", "self_rescue: false, volunteers: false, meu_teams: 0"),
    }
    for name, (setup, kind) in nobody.items():
        body = f"name: s\n{setup}\nincidents: {{kinds: {{a: {{share: 1}}, lost: {{share: 1, {kind}}}}}}}\n"
        cases += [
            Case(IMPOSSIBLE, f"nobody-{name}", {"s.yaml": body}, run_argv()),
            Case(
                IMPOSSIBLE,
                f"nobody-{name}-base",
                {"w.yaml": sweep_over("", "s.yaml"), "s.yaml": body},
                sweep_argv(),
            ),
        ]
    cells = {
        "station-outside": ("police: {station_cells: [[100, 0]]}", {}),
        "station-outside-row": ("police: {station_cells: [[0, 400]]}", {}),
        "station-on-water": (
            "city: {map_file: m.txt}\npolice: {station_cells: [[1, 0]]}",
            {"m.txt": ".~.\n...\n"},
        ),
        "station-on-river": (
            "city: {rivers: [{width_cells: 4}]}\npolice: {station_cells: [[5, 20]]}",
            {},
        ),
        "station-on-meandering-river": (
            "city: {rivers: [{width_cells: 20, meander_cells: 3}]}\n"
            "police: {station_cells: [[5, 20]]}",
            {},
        ),
        "site-outside": ("meus: {count: 1, site_cells: [[60, 40]]}", {}),
        "site-on-bridge": (
            "city: {map_file: m.txt}\nmeus: {count: 1, site_cells: [[0, 1]]}",
            {"m.txt": "...\n=..\n"},
        ),
        "grids-more-than-cells": ("city: {width: 3, height: 3}\npolice: {grids: 10}", {}),
        "stations-more-than-cells": (
            "city: {width: 2, height: 2}\npolice: {stations: 5, grids: 5}",
            {},
        ),
    }
    for name, (body, extra) in cells.items():
        cases += [
            Case(IMPOSSIBLE, name, {"s.yaml": f"name: s\n{body}\n", **extra}, run_argv()),
            Case(
                IMPOSSIBLE,
                f"{name}-extends",
                {"s.yaml": "extends: b.yaml\nname: s\n", "b.yaml": f"name: b\n{body}\n", **extra},
                run_argv(),
            ),
        ]
    return cases


# ---------------------------------------------------------------------------- class 13
def friction_cases() -> list[Case]:
    files = {"s.yaml": "name: s\n", "w.yaml": sweep_over(""), "base.yaml": BASE}
    cases = [
        Case(FRICTION, "run-out-empty", files, ["run", "{d}/s.yaml", "--out", ""]),
        Case(FRICTION, "run-out-blank", files, ["run", "{d}/s.yaml", "--out", "  "]),
        Case(FRICTION, "sweep-out-empty", files, ["sweep", "{d}/w.yaml", "--out", ""]),
        Case(FRICTION, "plot-out-empty", files, ["plot", "{d}", "--out", ""]),
        Case(FRICTION, "report-out-empty", files, ["report", "{d}", "--out", ""]),
        Case(FRICTION, "compare-out-empty", files, ["compare", "{d}", "{d}", "--out", ""]),
        Case(FRICTION, "run-out-nul", files, ["run", "{d}/s.yaml", "--out", "a\x00b"]),
        Case(
            FRICTION,
            "count-not-whole",
            {"s.yaml": "name: s\nvolunteers: {count: 1.5e0}\n"},
            run_argv(),
        ),
        Case(FRICTION, "merge-of-scalar", {"s.yaml": "name: s\npolice: {<<: 3}\n"}, run_argv()),
        Case(
            FRICTION,
            "merge-unknown-key",
            {"s.yaml": "name: s\nk: &k {unitz: 3}\npolice: {<<: *k}\n"},
            run_argv(),
        ),
    ]
    return cases


# ---------------------------------------------------------------------------- replay files
REPLAY_SCENARIO = BASE + "incidents: {replay: log.csv}\n"
REPLAY_TEXTS = {
    "marker-kind": f"time_s,x_m,y_m,kind\n1,1,1,{MARKER}\n",
    "marker-time": f"time_s,x_m,y_m,kind\n{MARKER},1,1,disturbance\n",
    "marker-iso": f"time,x_m,y_m,kind\n{MARKER},1,1,disturbance\n",
    "marker-place": f"time_s,x_m,y_m,kind\n1,{MARKER},1,disturbance\n",
    "marker-header": f"{MARKER},x_m,y_m,kind\n1,1,1,disturbance\n",
    "marker-ragged": f"time_s,x_m,y_m,kind\n1,1,1,disturbance,{MARKER}\n",
    "marker-quote": f'time_s,x_m,y_m,kind\n1,1,1,"{MARKER}\n',
    "marker-binary": b"\xff\xfe" + MARKER.encode(),
    "empty": "",
    "header-only": "time_s,x_m,y_m,kind\n",
    "past-horizon": "time_s,x_m,y_m,kind\n3600,1,1,disturbance\n",
    "off-grid": "time_s,x_m,y_m,kind\n1,-5,1,disturbance\n",
    "lonlat-no-crs": "time_s,lon,lat,kind\n1,24.9,60.1,disturbance\n",
    "inf-place": "time_s,x_m,y_m,kind\n1,inf,1,disturbance\n",
}


def replay_cases() -> list[Case]:
    """Replay CSVs (incidents.replay, run --incidents): one line, never the file's text."""
    cases = []
    for name, text in REPLAY_TEXTS.items():
        files = {"s.yaml": REPLAY_SCENARIO, "log.csv": text}
        cases.append(Case(LEAK, f"replay-{name}", files, run_argv(), ("log.csv",)))
        flag = {"s.yaml": BASE, "log.csv": text}
        argv = run_argv("s.yaml", "--incidents", "{d}/log.csv")
        cases.append(Case(BAD_INPUT, f"replay-flag-{name}", flag, argv))
    special: dict[str, Content] = {
        "fifo": FIFO, "socket": SOCKET, "directory": DIRECTORY,
        "dev-zero": Symlink("/dev/zero"), "sparse-huge": Sparse(2**30),
    }  # fmt: skip
    for name, content in special.items():
        files = {"s.yaml": REPLAY_SCENARIO, "log.csv": content}
        cases.append(Case(BOMB, f"replay-{name}", files, run_argv()))
    cases.append(Case(BAD_INPUT, "replay-missing", {"s.yaml": REPLAY_SCENARIO}, run_argv()))
    for name, text in (("missing", None), ("bad", f"time_s,x_m,y_m,kind\n{MARKER},1,1,a\n")):
        files: dict[str, Content] = {
            "s.yaml": "extends: other.yaml\nname: s\n",
            "other.yaml": BASE + f"incidents: {{replay: {MARKER}.csv}}\n",
        }
        if text is not None:
            files[f"{MARKER}.csv"] = text
        cases.append(Case(LEAK, f"replay-path-in-base-{name}", files, run_argv(), ("other.yaml",)))
    cases.append(Case(BAD_INPUT, "replay-mode-alone",
                      {"s.yaml": BASE + "incidents: {replay_mode: add}\n"}, run_argv()))  # fmt: skip
    return cases


def all_cases() -> list[Case]:
    return [
        *leak_cases(),
        *bomb_cases(),
        *input_cases(),
        *unbounded_cases(),
        *impossible_cases(),
        *friction_cases(),
        *replay_cases(),
    ]
