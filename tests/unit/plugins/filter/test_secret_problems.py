"""lisyoen.frp.secret_problems: the secret checks of both roles, and that no message shows the value."""

import pytest

from ansible_collections.lisyoen.frp.plugins.filter.secret_problems import secret_problems

GOOD = 'Xq7"v\\Lr2-ü-🔑-9fK3mZpW1sT8yB4nE6hJ0cQ5'


def test_a_long_random_token_passes():
    assert secret_problems(GOOD, "tok", min_length=32) == []


@pytest.mark.parametrize("value, fragment", [
    ("", "is empty"),
    (None, "is empty"),
    ("   ", "is empty"),
    ("CHANGE_ME", "placeholder"),
    ("<your frp token>", "placeholder"),
    ("${FRP_TOKEN}", "placeholder"),
    ("vault_frp_auth_token", "placeholder"),
    ("password", "placeholder"),
    ("abc{{def" + "x" * 40, "double opening brace"),
    (GOOD + "\n", "whitespace"),
    ("Xk3-real-token-77", "17 characters long"),
    ("ab" * 20, "only 2 distinct characters"),
    ("0123456789" * 2 + "01234567890123", None),
])
def test_bad_secrets_are_named_never_shown(value, fragment):
    problems = secret_problems(value, "frps_server_auth_token", min_length=32)
    if fragment is None:
        assert problems == []
        return
    assert problems, value
    text = " ".join(problems)
    assert fragment in text
    assert "frps_server_auth_token" in text
    # The message never echoes the value (placeholders are named generically in every message).
    if value and value.strip() and len(value.strip()) > 4 and fragment != "placeholder":
        assert value.strip() not in text


def test_without_min_length_only_the_basic_checks_run():
    assert secret_problems("short-but-real-9", "dashboard") == []
    assert secret_problems("CHANGE_ME", "dashboard")


def test_the_messages_say_how_to_generate_a_good_token():
    assert "openssl rand" in secret_problems("tooshort-9a", "t", min_length=32)[0]
