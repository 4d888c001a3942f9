"""The one exception type the scorers raise for bad input files."""


class EvalInputError(ValueError):
    """An answer or ground-truth file is malformed, incomplete or inconsistent.

    The message always names the file and the record (line, id) at fault, so the
    CLIs print it as-is instead of a traceback.
    """


class JudgeError(RuntimeError):
    """The judge endpoint failed for good (retries used up, or a request it refuses).

    Grades that arrived before the failure are already in the cache, so the
    same command resumes where it stopped.
    """
