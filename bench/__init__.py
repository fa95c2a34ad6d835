"""plait's benchmark suite: plait against plain asyncio. Run ``python -m bench``."""
