from helpers.probe import probe

__all__ = ["probe"]
