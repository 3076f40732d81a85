"""Where a dollar is computed: genai-prices plus prices.toml overrides, exact Decimal per span and in
bulk (prices), the tier of a model (tiers), and re-costing stored spans after a price change (reprice).

May import collector.store (reprice only), tierscope.errors, tierscope.terms, tierscope.instrumentation.
"""
