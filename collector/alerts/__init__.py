"""Where an alert fires: paired cost + quality rules (rules, pure), their evaluation on a schedule with
webhook/Slack notification (runner), and arming/listing them (api).

May import collector.store, collector.read (parameter parsing, JSON rows), tierscope.errors, tierscope.clock.
"""
