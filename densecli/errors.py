"""Errors a user can cause. Anything else is a bug and may show a traceback."""


class DensecliError(Exception):
    """A problem with the user's input: printed as one line per problem, exit code 2."""

    exit_code = 2

    def __init__(self, *problems: str) -> None:
        self.problems = [one_line(problem) for problem in problems]
        super().__init__("\n".join(self.problems))


# What str.splitlines() breaks a line at, shown escaped instead: a problem stays one line
# whatever key or cell text it quotes (a --set key with U+0085 printed two lines).
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


def one_line(problem: str) -> str:
    return problem.translate(_LINE_BREAKS)


class ConfigError(DensecliError):
    """The spec (YAML file or --set overrides) is invalid."""


class DataError(DensecliError):
    """The data file is missing, corrupt or does not fit the spec."""


class RunsError(DensecliError):
    """The runs folder cannot be written or read."""


class TrainingDiverged(DensecliError):
    """A model's loss became NaN or infinite; the run is failed."""

    exit_code = 3


class RunPruned(DensecliError):
    """A search's pruner stopped the run's models early (`densecli tune`); kept `.pruned`."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"pruned by the search at epoch {epoch}")
        self.epoch = epoch
