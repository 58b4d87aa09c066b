"""The sklearn estimator contract without depending on sklearn.

``get_params`` / ``set_params`` read the constructor's signature, so ``sklearn.base.clone``,
``Pipeline`` and ``GridSearchCV`` treat dbn estimators like their own.
"""

from __future__ import annotations

import inspect


class ParamsMixin:
    """``get_params`` / ``set_params`` / ``__repr__`` from the ``__init__`` signature.

    A subclass whose ``__init__`` forwards ``**kwargs`` to its parent lists the names it adds in
    ``_own_params``; the parent's named parameters are found by walking the MRO.
    """

    @classmethod
    def _get_param_names(cls):
        names = []
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            signature = inspect.signature(init)
            for p in signature.parameters.values():
                if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    continue
                if p.name not in names:
                    names.append(p.name)
            if not any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
                break
        return sorted(names)

    def get_params(self, deep=True):
        """Hyperparameters as a dict (sklearn contract)."""
        params = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                for key, sub in value.get_params().items():
                    params[f"{name}__{key}"] = sub
            params[name] = value
        return params

    def set_params(self, **params):
        """Set hyperparameters by name (sklearn contract); returns ``self``."""
        valid = self._get_param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for {type(self).__name__}; valid parameters are "
                    f"{valid}."
                )
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __repr__(self):
        defaults = {}
        for klass in type(self).__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for p in inspect.signature(init).parameters.values():
                defaults.setdefault(p.name, p.default)
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name, None)
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = value is default or bool(value == default)
            except Exception:
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"
