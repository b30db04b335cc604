"""The demo behaviour generator: seeded, deterministic, about 5,000 people over 60 days.

Two businesses share the demo workspace so that every shipped campaign has data:

* **Brightside**, a newsletter app with a 14-day trial (SaaS). Most people sign up and
  verify their email, fewer come back, fewer still finish the four onboarding steps
  (`profile_completed`, `contacts_imported`, `domain_verified`, `template_saved`),
  some activate core features (`feature_activated` with `feature_name`), send their first
  campaign, connect an integration, invite a teammate, upgrade. `app_login` sessions thin
  out for churners; paid people who drift away stop logging in.
* **Brightside Supply**, a shop for home-office gear (e-commerce): product views, carts
  (`cart_id`, product, category, price), checkouts, purchases, shipping, reviews, promo
  codes, returns; `lifetime_value` kept as an attribute the shop reports.

Every person is created by an identify carrying `email` (example.com / .org / .net only),
`first_name`, `plan_type`, `timezone` (a spread of IANA zones) and `created_at`. Output is
a list of Segment-spec operations (what `nudge ingest` reads) in time order, each with a
stable `messageId`. Person `i` depends only on the seed and `i`, so a smaller run is a
prefix of a larger one (tests use a few hundred people and get the same people).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.core.times import DAY_MS, HOUR_MS, MINUTE_MS, format_instant

#: Monday 7 September 2026, 00:00 UTC: the first day of the generated behaviour.
DEMO_START = int(datetime(2026, 9, 7, tzinfo=UTC).timestamp() * 1000)
DEMO_DAYS = 60
DEMO_PEOPLE = 5000
DEMO_SEED = 2026
TRIAL_DAYS = 14

ONBOARDING_STEPS = ("profile_completed", "contacts_imported", "domain_verified", "template_saved")
FEATURES = ("automations", "segments", "ab_testing")
INTEGRATIONS = ("shopify", "stripe", "wordpress", "zapier", "webflow")

ZONES = (
    ("America/New_York", 14), ("America/Chicago", 7), ("America/Denver", 3),
    ("America/Los_Angeles", 9), ("America/Sao_Paulo", 4), ("America/Mexico_City", 3),
    ("Europe/London", 9), ("Europe/Amsterdam", 5), ("Europe/Berlin", 7), ("Europe/Paris", 5),
    ("Europe/Madrid", 4), ("Europe/Warsaw", 2), ("Africa/Lagos", 3), ("Africa/Nairobi", 2),
    ("Asia/Kolkata", 6), ("Asia/Singapore", 3), ("Asia/Tokyo", 3), ("Asia/Manila", 2),
    ("Australia/Sydney", 4), ("Pacific/Auckland", 1),
)  # fmt: skip
FIRST_NAMES = (
    "Maria", "Sam", "Aisha", "Chen", "Lucas", "Emma", "Noah", "Olivia", "Mateo", "Sofia",
    "Liam", "Priya", "Kenji", "Amara", "Jonas", "Elena", "Tom", "Zoe", "Ravi", "Hannah",
    "Diego", "Chloé", "Yusuf", "Ines", "Oliver", "Mia", "Kwame", "Lena", "Arjun", "Grace",
    "Felix", "Nora", "Hiro", "Ana", "Ben", "Leila", "Marco", "Isla", "Omar", "Julia",
    "José", "Freya", "Tariq", "Ruth", "Pablo", "Alice", "Ngozi", "Ella", "Viktor", "Maya",
)  # fmt: skip
LAST_NAMES = (
    "Lopez", "Okafor", "Khan", "Wei", "Silva", "Brown", "Smith", "Jansen", "Garcia", "Rossi",
    "Patel", "Tanaka", "Mensah", "Müller", "Novak", "Walsh", "Dubois", "Sato", "Ahmed", "Kowalski",
    "Nguyen", "Eriksen", "Costa", "Murphy", "Fischer", "Haddad", "Reyes", "Ito", "Adeyemi", "Berg",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net")

#: Brightside Supply's catalogue: (product_id, name, category, price).
CATALOGUE = (
    ("sku-101", "Oak standing desk", "desks", 649.0),
    ("sku-102", "Compact writing desk", "desks", 289.0),
    ("sku-103", "Desk cable tray", "desks", 39.0),
    ("sku-201", "Ergonomic mesh chair", "chairs", 429.0),
    ("sku-202", "Kneeling stool", "chairs", 159.0),
    ("sku-203", "Lumbar cushion", "chairs", 45.0),
    ("sku-301", "Daylight desk lamp", "lighting", 119.0),
    ("sku-302", "Monitor light bar", "lighting", 79.0),
    ("sku-401", "Noise-cancelling headset", "audio", 249.0),
    ("sku-402", "USB podcast microphone", "audio", 139.0),
    ("sku-403", "Desk speakers", "audio", 99.0),
    ("sku-501", "Wool desk mat", "accessories", 59.0),
    ("sku-502", "Walnut monitor stand", "accessories", 89.0),
    ("sku-503", "Mechanical keyboard", "accessories", 169.0),
    ("sku-504", "Notebook set", "accessories", 24.0),
)
CATEGORIES = ("desks", "chairs", "lighting", "audio", "accessories")
PROMO_CODES = ("WELCOME10", "DESKDAY", "FREESHIP")

_ENGAGEMENT = (("churner", 45), ("casual", 35), ("engaged", 20))
# Per engagement level: login chance per active day, days active (range), onboarding
# step chances, feature chance, first-campaign chance, integration, invite, upgrade.
_PROFILE: dict[str, dict[str, Any]] = {
    "churner": {"login": 0.45, "active": (1, 6), "steps": (0.35, 0.22, 0.1, 0.08),
                "feature": 0.05, "campaign": 0.15, "integration": 0.04, "invite": 0.02,
                "upgrade": 0.01},
    "casual": {"login": 0.5, "active": (6, 30), "steps": (0.8, 0.6, 0.4, 0.35),
               "feature": 0.3, "campaign": 0.55, "integration": 0.25, "invite": 0.12,
               "upgrade": 0.2},
    "engaged": {"login": 0.8, "active": (40, 60), "steps": (0.97, 0.92, 0.8, 0.75),
                "feature": 0.65, "campaign": 0.92, "integration": 0.6, "invite": 0.45,
                "upgrade": 0.6},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoData:
    """Generated behaviour.

    Attributes:
        operations: Segment-spec identify / track operations in time order (ties keep
            the order they were generated in); `timestamp` is ms UTC.
        start_ms: the first instant covered, ms UTC.
        end_ms: the end of the period (excluded), ms UTC.
        people: how many people were generated.
    """

    operations: list[dict[str, Any]]
    start_ms: int
    end_ms: int
    people: int


def generate(
    people: int = DEMO_PEOPLE,
    days: int = DEMO_DAYS,
    seed: int = DEMO_SEED,
    start_ms: int = DEMO_START,
) -> DemoData:
    """Generate the demo behaviour (about 30 operations per person).

    Args:
        people: how many people (ids `u-10000` upwards).
        days: the length of the period; nothing happens at or after its end.
        seed: the same seed gives the same operations, byte for byte.
        start_ms: the period's first instant, ms UTC.

    Returns:
        The operations, in time order.
    """
    end_ms = start_ms + days * DAY_MS
    rows: list[tuple[int, int, int, dict[str, Any]]] = []
    zones = [z for z, _ in ZONES]
    weights = [w for _, w in ZONES]
    for index in range(people):
        rng = random.Random(seed * 1_000_003 + index)
        person = _Person(index, rng, start_ms, end_ms, rng.choices(zones, weights)[0])
        if rng.random() < 0.62:
            person.app_user()
            if rng.random() < 0.12:
                person.shopper(person.signup + rng.uniform(1, 20) * DAY_MS, existing=False)
        else:
            person.shopper(None, existing=rng.random() < 0.3)
        rows += [(ts, index, n, op) for n, (ts, op) in enumerate(person.ops) if ts < end_ms]
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    return DemoData([row[3] for row in rows], start_ms, end_ms, people)


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


def _iso(ms: int) -> str:
    return format_instant(ms)


class _Person:
    """Builds one person's operations (`ops`: (timestamp ms, operation))."""

    def __init__(self, index: int, rng: random.Random, start: int, end: int, zone: str) -> None:
        self.index, self.rng, self.start, self.end, self.zone = index, rng, start, end, zone
        self.user_id = f"u-{10000 + index}"
        self.first = rng.choice(FIRST_NAMES)
        self.last = rng.choice(LAST_NAMES)
        domain = DOMAINS[index % 3]
        self.email = f"{_slug(self.first)}.{_slug(self.last)}{index}@{domain}"
        offset = ZoneInfo(zone).utcoffset(datetime.fromtimestamp(start / 1000, UTC))
        self.offset_ms = int((offset or timedelta()) / timedelta(milliseconds=1))
        self.ops: list[tuple[int, dict[str, Any]]] = []
        signup = self.local_time(rng.uniform(0, (end - start) / DAY_MS), 8, 22)
        # Local mornings east of UTC can fall before the period's first instant, and
        # local evenings west of it after its end: move those a day in.
        if signup < start:
            signup += DAY_MS
        elif signup >= end - HOUR_MS:
            signup -= DAY_MS
        self.signup = signup
        self.seq = 0

    # -- primitives ------------------------------------------------------------------------

    def local_time(self, day: float, first_hour: int, last_hour: int) -> int:
        """An instant on day `day` (from the start) at a person-local hour in the range."""
        midnight = self.start + int(day) * DAY_MS - self.offset_ms
        hour = self.rng.uniform(first_hour, last_hour)
        return midnight + int(hour * HOUR_MS)

    def track(self, at: int, event: str, **properties: Any) -> None:
        self.seq += 1
        op = {"type": "track", "userId": self.user_id, "event": event,
              "properties": properties, "timestamp": at,
              "messageId": f"demo-{self.index}-{self.seq}"}  # fmt: skip
        self.ops.append((at, op))

    def identify(self, at: int, **traits: Any) -> None:
        self.seq += 1
        op = {"type": "identify", "userId": self.user_id, "traits": traits, "timestamp": at,
              "messageId": f"demo-{self.index}-{self.seq}"}  # fmt: skip
        self.ops.append((at, op))

    def create(self, at: int, plan_type: str, **traits: Any) -> None:
        self.identify(
            at,
            email=self.email,
            first_name=self.first,
            last_name=self.last,
            plan_type=plan_type,
            timezone=self.zone,
            created_at=_iso(at),
            **traits,
        )

    # -- the newsletter app ----------------------------------------------------------------

    def app_user(self) -> None:
        rng, signup = self.rng, self.signup
        level = rng.choices([k for k, _ in _ENGAGEMENT], [w for _, w in _ENGAGEMENT])[0]
        prof = _PROFILE[level]
        trial_end = signup + TRIAL_DAYS * DAY_MS
        self.create(signup, "trial", trial_started_at=_iso(signup), trial_ends_at=_iso(trial_end))
        self.track(signup + 5_000, "signed_up", plan="trial",
                   source=rng.choice(("search", "ad", "referral", "pricing_page")))  # fmt: skip
        if rng.random() < 0.88:
            self.track(signup + int(rng.uniform(1, 25) * MINUTE_MS), "email_verified")
        upgrade_at = None
        if rng.random() < prof["upgrade"]:
            upgrade_at = signup + int(rng.uniform(4, TRIAL_DAYS + 1) * DAY_MS)
        logins = self.logins(signup, prof, upgrade_at, trial_end)
        if not logins:
            logins = [signup + 2 * MINUTE_MS]
        # Onboarding steps happen in early sessions, in order, each its own event.
        early = [t for t in logins if t < signup + 10 * DAY_MS] or logins[:1]
        when = 0
        for step, chance in zip(ONBOARDING_STEPS, prof["steps"], strict=True):
            if rng.random() >= chance:
                continue
            if step == "contacts_imported" and rng.random() < 0.55:
                at = signup + int(rng.uniform(3, 120) * MINUTE_MS)  # the first session
            else:
                when = min(len(early) - 1, when + rng.randint(0, 2))
                at = early[when] + int(rng.uniform(2, 40) * MINUTE_MS)
            self.track(at, step)
        for feature in FEATURES:
            if rng.random() < prof["feature"]:
                self.track(rng.choice(logins) + 4 * MINUTE_MS, "feature_activated",
                           feature_name=feature)  # fmt: skip
        if rng.random() < prof["campaign"]:
            sends = sorted(rng.sample(logins, min(len(logins), rng.randint(1, 6))))
            for n, at in enumerate(sends):
                self.track(at + 20 * MINUTE_MS, "campaign_sent", campaign_number=n + 1,
                           recipients=rng.randint(40, 4000))  # fmt: skip
        if rng.random() < prof["integration"]:
            count = min(len(logins), rng.choice((1, 1, 2)))
            chosen = zip(rng.sample(logins, count), rng.sample(INTEGRATIONS, count), strict=True)
            for at, name in chosen:
                self.track(at + 9 * MINUTE_MS, "integration_connected", integration=name)
        if rng.random() < prof["invite"]:
            for at in rng.sample(logins, min(len(logins), rng.choice((1, 1, 2)))):
                self.track(at + 12 * MINUTE_MS, "team_member_invited",
                           role=rng.choice(("editor", "admin", "viewer")))  # fmt: skip
        if upgrade_at is not None:
            plan = rng.choice(("starter", "starter", "pro"))
            self.track(upgrade_at, "upgraded", plan=plan, previous_plan="trial")
            self.identify(upgrade_at + 1, plan_type=plan, upgraded_at=_iso(upgrade_at))
        else:
            self.identify(trial_end, plan_type="expired")
            self.track(trial_end + 1, "trial_ended")

    def logins(self, signup: int, prof: dict[str, Any], upgrade_at: int | None, trial_end: int
               ) -> list[int]:  # fmt: skip
        """`app_login` sessions (and `last_login_at` once a day); returns their times."""
        rng = self.rng
        active_days = rng.uniform(*prof["active"])
        # Some paid people drift away later: the churn-risk audience.
        drift_day = None
        if upgrade_at is not None and rng.random() < 0.35:
            drift_day = (upgrade_at - signup) / DAY_MS + rng.uniform(3, 20)
        out: list[int] = [signup + int(rng.uniform(1, 4) * MINUTE_MS)]
        day = 0
        first_day = (signup - self.start + self.offset_ms) // DAY_MS
        while True:
            at_day = signup + day * DAY_MS
            if at_day >= self.end:
                break
            paid = upgrade_at is not None and at_day >= upgrade_at
            if drift_day is not None and day > drift_day:
                chance = 0.01
            elif paid:
                chance = max(prof["login"], 0.55)
            elif day <= active_days and (upgrade_at is not None or at_day < trial_end):
                chance = prof["login"] * (0.97**day)
            else:
                chance = 0.025
            if day > 0 and rng.random() < chance:
                for _ in range(rng.choice((1, 1, 1, 2, 3))):
                    out.append(self.local_time(first_day + day, 7, 23))
            day += 1
        out.sort()
        last_day = None
        for at in out:
            device = self.rng.choice(("web", "web", "web", "ios", "android"))
            self.track(at, "app_login", device=device)
            if at // DAY_MS != last_day:
                last_day = at // DAY_MS
                self.identify(at + 1, last_login_at=_iso(at))
        return out

    # -- the shop ----------------------------------------------------------------------------

    def shopper(self, since: int | None, existing: bool) -> None:
        rng = self.rng
        ltv, orders = 0.0, 0
        if since is None:
            since = self.signup
            traits: dict[str, Any] = {}
            if existing:
                orders = rng.randint(1, 6)
                ltv = round(orders * rng.uniform(40, 320), 2)
                traits = {"lifetime_value": ltv, "orders_count": orders}
            self.create(since, "shop", **traits)
            if not existing:
                self.track(since + 5_000, "signed_up", plan="shop", source="store")
        favourite = rng.choice(CATEGORIES)
        sessions = max(1, int(rng.expovariate(1 / 5)))
        day0 = (since - self.start + self.offset_ms) / DAY_MS
        times = sorted(
            max(since + 10 * MINUTE_MS, self.local_time(day0 + rng.expovariate(1 / 9), 7, 23))
            for _ in range(sessions)
        )
        cart = 0
        for at in times:
            for _ in range(rng.choice((1, 1, 2, 3, 4))):
                category = favourite if rng.random() < 0.6 else rng.choice(CATEGORIES)
                product = rng.choice([p for p in CATALOGUE if p[2] == category])
                at += int(rng.uniform(0.5, 6) * MINUTE_MS)
                self.track(at, "viewed_product", **_product(product))
                if rng.random() >= 0.3:
                    continue
                cart += 1
                cart_id = f"cart-{self.index}-{cart}"
                at += int(rng.uniform(0.5, 3) * MINUTE_MS)
                self.track(at, "added_to_cart", cart_id=cart_id, quantity=1, **_product(product))
                bought = self.checkout(at, cart_id, product, ltv, orders)
                if bought is not None:
                    ltv, orders = bought

    def checkout(self, added: int, cart_id: str, product: tuple[str, str, str, float], ltv: float,
                 orders: int) -> tuple[float, int] | None:  # fmt: skip
        """Maybe a checkout and a purchase; returns the new (lifetime value, orders)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            wait = rng.uniform(2, 25) * MINUTE_MS  # buys right away
        elif roll < 0.55:
            wait = rng.uniform(1, 3.9) * HOUR_MS  # comes back within the afternoon
        elif roll < 0.65:
            wait = rng.uniform(5, 60) * HOUR_MS  # comes back after a reminder
        else:
            if rng.random() < 0.4:
                self.track(added + int(rng.uniform(1, 8) * MINUTE_MS), "started_checkout",
                           cart_id=cart_id, total=product[3])  # fmt: skip
            return None
        paid_at = added + int(wait)
        self.track(paid_at - 90_000, "started_checkout", cart_id=cart_id, total=product[3])
        total = product[3]
        promo = None
        if rng.random() < 0.15:
            promo = rng.choice(PROMO_CODES)
            total = round(total * 0.9, 2)
            self.track(paid_at - 30_000, "used_promo_code", code=promo, cart_id=cart_id)
        order_id = f"order-{cart_id[5:]}"
        self.track(paid_at, "completed_purchase", order_id=order_id, cart_id=cart_id,
                   total=total, **_product(product))  # fmt: skip
        ltv, orders = round(ltv + total, 2), orders + 1
        self.identify(paid_at + 1, lifetime_value=ltv, orders_count=orders)
        shipped = paid_at + int(rng.uniform(18, 60) * HOUR_MS)
        self.track(shipped, "order_shipped", order_id=order_id,
                   carrier=rng.choice(("DHL", "UPS", "PostNL")), **_product(product))  # fmt: skip
        if rng.random() < 0.22:
            self.track(shipped + int(rng.uniform(3, 14) * DAY_MS), "submitted_review",
                       order_id=order_id, product_id=product[0],
                       rating=rng.choice((3, 4, 4, 5, 5, 5)))  # fmt: skip
        elif rng.random() < 0.07:
            self.track(shipped + int(rng.uniform(2, 20) * DAY_MS), "returned_item",
                       order_id=order_id, product_id=product[0],
                       reason=rng.choice(("too big", "changed my mind", "damaged")))  # fmt: skip
        return ltv, orders


def _product(product: tuple[str, str, str, float]) -> dict[str, Any]:
    pid, name, category, price = product
    return {"product_id": pid, "product_name": name, "category": category, "price": price}
