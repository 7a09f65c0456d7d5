"""Read what `kubectl get ... -o yaml` prints: one or several YAML documents, each an object or a List."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.yamlio import SAFE_LOADER


class InputError(Exception):
    """Input the importer cannot use; the message is one sentence naming the file or flag."""


@dataclass
class Objects:
    """The Kubernetes objects read, by kind."""

    config_maps: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    ingresses: list[dict[str, Any]] = field(default_factory=list)
    ingress_classes: list[dict[str, Any]] = field(default_factory=list)
    workloads: list[dict[str, Any]] = field(default_factory=list)
    """Deployments and DaemonSets (their container args name --ingress-class and --configmap)."""
    other: int = 0

    def add(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind")
        target = {
            "ConfigMap": self.config_maps,
            "Service": self.services,
            "Ingress": self.ingresses,
            "IngressClass": self.ingress_classes,
            "Deployment": self.workloads,
            "DaemonSet": self.workloads,
        }.get(str(kind))
        if target is None:
            self.other += 1
        else:
            target.append(obj)


def _is_object(doc: object) -> bool:
    return (
        isinstance(doc, dict) and isinstance(doc.get("kind"), str) and isinstance(doc.get("apiVersion"), str)
    )


def read_files(paths: list[Path]) -> Objects:
    objects = Objects()
    for path in paths:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as error:
            raise InputError(f"--from {path}: cannot be read: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise InputError(
                f"--from {path}: is not UTF-8 text; allowed: the YAML that kubectl get -o yaml prints"
            ) from None
        try:
            docs = [d for d in yaml.load_all(text, Loader=SAFE_LOADER) if d is not None]
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise InputError(
                f"--from {path}: is not YAML{where}; allowed: the output of kubectl get configmap,service -n "
                "ingress-nginx -o yaml or kubectl get ingress -A -o yaml"
            ) from None
        found = 0
        for doc in docs:
            items = (
                doc.get("items")
                if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List")
                else None
            )
            for obj in items if isinstance(items, list) else [doc]:
                if _is_object(obj):
                    objects.add(obj)
                    found += 1
        if not found:
            raise InputError(
                f"--from {path}: holds no Kubernetes object (a mapping with apiVersion and kind, or a "
                "List of "
                "them); allowed: the output of kubectl get ... -o yaml"
            )
    return objects
