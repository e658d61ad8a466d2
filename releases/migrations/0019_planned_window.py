"""A release's planned window ends after it starts, a task's not before: the
rule the models' ``clean()`` words, held by the database too (rows that broke
it were repaired by 0018)."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('releases', '0018_clear_reversed_windows'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='release',
            constraint=models.CheckConstraint(condition=models.Q(('planned_start__isnull', True), ('planned_end__isnull', True), ('planned_end__gt', models.F('planned_start')), _connector='OR'), name='release_planned_window', violation_error_message='The planned end must be after the planned start.'),
        ),
        migrations.AddConstraint(
            model_name='task',
            constraint=models.CheckConstraint(condition=models.Q(('planned_start__isnull', True), ('planned_end__isnull', True), ('planned_end__gte', models.F('planned_start')), _connector='OR'), name='task_planned_window', violation_error_message='The planned end must not be before the planned start.'),
        ),
    ]
