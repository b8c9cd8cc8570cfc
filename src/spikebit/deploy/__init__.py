"""Deployment: the packed ``.sbit`` format and its bitwise inference engine."""

from spikebit.deploy.engine import PackedModel, PackedOutput, load_packed
from spikebit.deploy.export import PackedExport, export_packed
from spikebit.deploy.fileformat import PackedFileError
from spikebit.errors import ExportError

__all__ = ["ExportError", "PackedExport", "PackedFileError", "PackedModel", "PackedOutput",
           "export_packed", "load_packed"]
