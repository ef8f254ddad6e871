"""The one rule for production-looking stack names (components/stack_names.py), which the settings, the runbook
CLI and the policy pack share."""

import pytest

from components.stack_names import is_production_stack_name


@pytest.mark.parametrize("name", [
    # a word
    "prod", "Prod", "PROD", "production", "prd", "live", "eu-prod", "cruddur_live", "prod.eu",
    # a suffix inside a word, and trailing digits
    "euprod", "cruddurprod", "euProd", "prd01", "live2", "eu-prd-2", "cruddurproduction", "euprod3", "team-live01",
    # a prefix
    "prodlike", "prod2", "prodeu",
    # the rule leans wide
    "preprod", "product-dev", " prod ",
])
def test_production_looking(name):
    assert is_production_stack_name(name) is True


@pytest.mark.parametrize("name", ["dev", "staging", "alice-dev", "test1", "qa", "dev2", "eu-dev", "sandbox",
                                  "livestream-dev", "", "---", "123"])
def test_not_production_looking(name):
    assert is_production_stack_name(name) is False
