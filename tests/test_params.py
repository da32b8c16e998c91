"""miniflow.params: Param checks and Airflow's ParamsDict."""

from __future__ import annotations

import pytest

from miniflow.params import Param, ParamsDict, ParamValidationError


def test_params_dict_gives_checked_values_and_the_params() -> None:
    params = ParamsDict({"n": Param(5, type="integer", minimum=1), "name": "plain"})
    assert params["n"] == 5 and params["name"] == "plain"
    assert isinstance(params.get_param("name"), Param)
    assert dict(params) == {"n": 5, "name": "plain"} == params.validate() == params.dump()
    params["n"] = 7
    assert params["n"] == 7 and params.get_param("n").schema == {"type": "integer", "minimum": 1}
    with pytest.raises(ParamValidationError, match="'n'"):
        params["n"] = 0
    assert len(params) == 2 and list(params) == ["n", "name"]
    del params["name"]
    assert "name" not in params


def test_params_dict_validate_reports_a_bad_default_unless_suppressed() -> None:
    bad = {"level": Param("loud", enum=["low", "high"])}
    with pytest.raises(ParamValidationError, match="not one of"):
        ParamsDict(bad).validate()
    assert ParamsDict(bad, suppress_exception=True).validate() == {}
