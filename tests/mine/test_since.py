from datetime import datetime, timedelta, timezone

import pytest

from skillforge.mine.since import parse_since


@pytest.mark.parametrize(("text", "expected"), [
    (None, None),
    ("", None),
    ("  ", None),
    ("last", "last"),
    ("LAST", "last"),
    ("2024-02-15", datetime(2024, 2, 15, tzinfo=timezone.utc)),
    ("2024-02-15T10:30:00", datetime(2024, 2, 15, 10, 30, tzinfo=timezone.utc)),
    ("2024-02-15T10:30:00Z", datetime(2024, 2, 15, 10, 30, tzinfo=timezone.utc)),
    ("2024-02-15T10:30:00+02:00", datetime(2024, 2, 15, 10, 30, tzinfo=timezone(timedelta(hours=2)))),
    (" 2024-02-15 ", datetime(2024, 2, 15, tzinfo=timezone.utc)),
])
def test_parse_since_forms(text, expected):
    got = parse_since(text)
    assert got == expected
    if isinstance(got, datetime):
        assert got.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "15/02/2024", "2024-13-01", "lastrun"])
def test_parse_since_names_the_accepted_forms(text):
    with pytest.raises(ValueError) as err:
        parse_since(text)
    message = str(err.value)
    assert repr(text) in message and "YYYY-MM-DD" in message and "ISO datetime" in message and "'last'" in message
