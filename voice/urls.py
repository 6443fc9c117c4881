"""HTTP routes of the voice app. Webhook paths are the ones existing Twilio consoles already point at."""

urlpatterns: list = []
