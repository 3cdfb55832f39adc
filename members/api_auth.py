"""Who calls the API, and how often they may.

Budgets live in the shared cache, so every web worker counts the same requests: one per
account (whether it calls with its token or its session) and one per address for anonymous
callers. A wrong token spends its address's anonymous budget, so guessing keys is limited too.
"""

from rest_framework import authentication, exceptions, throttling
from rest_framework.settings import api_settings


class _Budget:
    """Rates read per request (a changed setting applies at once) and an exact Retry-After."""

    def get_rate(self) -> str | None:
        # DRF reads its rates once, at import; read them here so settings stay the one source.
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def wait(self) -> float:
        # When enough old requests have left the window for one more. DRF's own answer is None
        # when concurrent workers overfilled the window, and then no Retry-After is sent.
        if not self.history:
            return float(self.duration)
        must_leave = self.history[min(self.num_requests, len(self.history)) - 1]
        return max(1.0, self.duration - (self.now - must_leave))


class UserThrottle(_Budget, throttling.UserRateThrottle):
    """A budget per signed-in account (anonymous requests are the address budget's)."""


class AnonThrottle(_Budget, throttling.AnonRateThrottle):
    """A budget per address for anonymous callers."""


class _WrongTokenThrottle(AnonThrottle):
    """The address budget, counted while authentication fails (there is no user to ask yet)."""

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; a wrong key is a 401, or a 429 once its address is over budget.

    Listed first in the settings: DRF answers a missing or wrong credential with the first
    class's challenge, so clients get 401 and `WWW-Authenticate: Token`, not a bare 403.
    """

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            budget = _WrongTokenThrottle()
            if not budget.allow_request(request, None):
                raise exceptions.Throttled(budget.wait()) from None
            raise
