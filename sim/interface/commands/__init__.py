"""The ``jiefang`` commands, one module a family (run, sweep, results, view, scenarios,
optimize). :mod:`sim.interface.cli` builds the parser and imports a command's module only
when that command runs (:data:`sim.interface.commands.dispatch.COMMANDS`), so ``jiefang
--help`` and argument errors load no numpy, pandas or pydantic; :mod:`.common` is what they
share and stays that light."""
