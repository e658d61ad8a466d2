from django import forms


class AttachForm(forms.Form):
    """A file for a record's evidence: what it is decided by ``files.check``
    (size, extension and content), not here."""

    file = forms.FileField(allow_empty_file=True)  # an empty file gets the service's reason
    note = forms.CharField(max_length=300, required=False)
    supersedes = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                    label="Replaces", help_text="A file of this record that this one supersedes.")
