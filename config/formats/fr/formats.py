"""How dates and times read in fr pages and mail (Django format names)."""

DATE_FORMAT = "j F Y"
DATETIME_FORMAT = "l j F Y, H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "D d/m/Y H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "F Y"
