"""The app's stylesheet (kept in Python so it ships with the package)."""

CSS = """
ConnectionBar { height: 1; background: $panel; padding: 0 1; }
#conn-state { width: 1fr; }
#conn-target { width: auto; color: $text-muted; }
.state-connected { color: $success; }
.state-connecting { color: $warning; }
.state-disconnected { color: $error; text-style: bold; }
Banner { display: none; height: auto; background: $error; color: $text; padding: 0 1; text-style: bold; }
.card { border: round $primary; padding: 0 1; height: auto; }
#cards { grid-size: 4; grid-gutter: 0 1; height: auto; }
#panels { height: 1fr; }
PanelView { height: auto; }
.series-chart { height: 10; }
#plugin-table { height: 2fr; }
#activity { height: 1fr; border: round $secondary; }
#event-controls { height: 3; }
#event-controls Input { width: 1fr; }
#event-status { height: 1; padding: 0 1; color: $text-muted; }
#event-log { height: 1fr; border: round $primary; }
#details { height: 1fr; }
ConfirmScreen, PromptScreen { align: center middle; }
.dialog { width: 70; height: auto; border: thick $warning; background: $surface; padding: 1 2; }
.question { width: 1fr; margin-bottom: 1; }
.buttons { height: auto; align-horizontal: right; }
.buttons Button { margin-left: 2; }
"""
