"""Hebrew defaults for a fresh install: what the agent says before an owner changes anything."""

DEFAULT_BUSINESS_NAME = "העסק שלי"
DEFAULT_LANGUAGE = "he-IL"
DEFAULT_TIME_ZONE = "Asia/Jerusalem"
DEFAULT_VOICE = "he-IL-Wavenet-A"
DEFAULT_GREETING = "שלום, הגעתם לנציג הדיגיטלי שלנו. במה אפשר לעזור?"
DEFAULT_SYSTEM_PROMPT = (
    "אתה נציג טלפוני אדיב של העסק, ומדבר עברית בלבד. "
    "ענה בקצרה, במשפט אחד או שניים, כי השיחה בטלפון. "
    "שאל לשם הפונה, למה הוא מתעניין ומתי נוח לחזור אליו, ושמור את הפרטים בכלים שקיבלת. "
    "אם אינך יודע תשובה, הבטח שנציג אנושי יחזור אליו."
)
DEFAULT_FALLBACK_MESSAGE = "שלום, כרגע איננו יכולים לענות. השאירו הודעה אחרי הצליל ונחזור אליכם בהקדם."
