"""A membership as the business page edits it: the staff member's phone for "transfer to me" is stored in
E.164 (the form ``<Dial>`` needs), whatever way it was typed, or refused with a clear error."""

from __future__ import annotations

from django import forms

from backoffice.forms import clean_phone
from crm.models import Membership


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "role", "phone", "notify", "on_duty"]
        widgets = {"phone": forms.TextInput(attrs={"dir": "ltr"})}

    def clean_phone(self) -> str:
        phone = (self.cleaned_data.get("phone") or "").strip()
        # Empty: this person takes no calls. A number saved before the stricter check is kept as it is.
        return clean_phone(phone, stored=self.instance.phone) if phone else ""
