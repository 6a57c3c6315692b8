"""Form values read as what they mean: a yes or no, a whole number in a range."""

FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


def is_true(value):
    """A form value as a bool: '', '0', 'false', 'no' and 'off' are false."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_WORDS
    return bool(value)


def whole_number(value, minimum=0, maximum=None):
    """A form value as a whole number from ``minimum`` to ``maximum``, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= minimum and (maximum is None or number <= maximum) else None
