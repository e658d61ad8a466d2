"""The outbox relay's lease (``sending`` until ``lease_until``), and vendor
secrets kept sealed with a fingerprint and a rotation overlap instead of in
clear text. Existing secrets are sealed as they are: vendors keep working."""

from django.db import migrations, models


def seal_secrets(apps, schema_editor):
    from django.utils import timezone

    from releasemgmt.secretbox import fingerprint, seal

    Vendor = apps.get_model("releases", "Vendor")
    for vendor in Vendor.objects.exclude(integration_secret=""):
        vendor.secret_sealed = seal(vendor.integration_secret)
        vendor.secret_fingerprint = fingerprint(vendor.integration_secret)
        vendor.secret_set_at = timezone.now()
        vendor.save(update_fields=["secret_sealed", "secret_fingerprint", "secret_set_at"])


def unseal_secrets(apps, schema_editor):
    from releasemgmt.secretbox import unseal

    Vendor = apps.get_model("releases", "Vendor")
    for vendor in Vendor.objects.exclude(secret_sealed=""):
        vendor.integration_secret = unseal(vendor.secret_sealed)
        vendor.save(update_fields=["integration_secret"])


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0015_refusal_entry_point'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicaloutboxmessage',
            name='claimed_by',
            field=models.CharField(blank=True, help_text='The relay (host:pid) that last claimed it.', max_length=100),
        ),
        migrations.AddField(
            model_name='historicaloutboxmessage',
            name='lease_until',
            field=models.DateTimeField(blank=True, help_text='While sending: the relay holds the message until then; past it the message is due again.', null=True),
        ),
        migrations.AddField(
            model_name='historicalvendor',
            name='previous_secret_fingerprint',
            field=models.CharField(blank=True, editable=False, max_length=12),
        ),
        migrations.AddField(
            model_name='historicalvendor',
            name='previous_secret_valid_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalvendor',
            name='secret_fingerprint',
            field=models.CharField(blank=True, editable=False, help_text="First 12 hex digits of the secret's SHA-256.", max_length=12),
        ),
        migrations.AddField(
            model_name='historicalvendor',
            name='secret_set_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='outboxmessage',
            name='claimed_by',
            field=models.CharField(blank=True, help_text='The relay (host:pid) that last claimed it.', max_length=100),
        ),
        migrations.AddField(
            model_name='outboxmessage',
            name='lease_until',
            field=models.DateTimeField(blank=True, help_text='While sending: the relay holds the message until then; past it the message is due again.', null=True),
        ),
        migrations.AddField(
            model_name='vendor',
            name='previous_secret_fingerprint',
            field=models.CharField(blank=True, editable=False, max_length=12),
        ),
        migrations.AddField(
            model_name='vendor',
            name='previous_secret_sealed',
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name='vendor',
            name='previous_secret_valid_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='vendor',
            name='secret_fingerprint',
            field=models.CharField(blank=True, editable=False, help_text="First 12 hex digits of the secret's SHA-256.", max_length=12),
        ),
        migrations.AddField(
            model_name='vendor',
            name='secret_sealed',
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name='vendor',
            name='secret_set_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='historicaloutboxmessage',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10),
        ),
        migrations.AlterField(
            model_name='outboxmessage',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed')], default='pending', max_length=10),
        ),
        migrations.RunPython(seal_secrets, unseal_secrets),
        migrations.RemoveField(
            model_name='vendor',
            name='integration_secret',
        ),
    ]
