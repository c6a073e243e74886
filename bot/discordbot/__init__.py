"""The Discord front (discord.py): mentions, replies, threads, ``/vigil`` slash commands and
alert buttons. ``front.DiscordFront`` is what ``bot.fronts`` starts when ``DISCORD_TOKEN`` is
set; ``bot.render.discord`` turns replies into embeds."""
