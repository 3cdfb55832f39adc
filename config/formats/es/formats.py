"""How dates and times read in es pages and mail (Django format names)."""

DATE_FORMAT = r"j \d\e F \d\e Y"
DATETIME_FORMAT = r"l, j \d\e F \d\e Y, H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "D d/m/Y, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = r"F \d\e Y"
